from django.apps import AppConfig


class HttpTestAppConfig(AppConfig):
    name = "tests.djangoapp_http"
    label = "djangoapp_http"
    default_auto_field = "django.db.models.AutoField"
