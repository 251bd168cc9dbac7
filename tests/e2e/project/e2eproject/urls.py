from django.urls import re_path as url

from . import views

urlpatterns = [
    url(r"^hello/$", views.hello),
    url(r"^session/set/$", views.session_set),
    url(r"^session/get/$", views.session_get),
    url(r"^stream/$", views.stream),
    url(r"^stream/mb/$", views.stream_mb),
    url(r"^upload/$", views.upload),
    url(r"^big/$", views.big),
]
