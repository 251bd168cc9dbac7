from django.urls import path

from . import views

urlpatterns = [
    path("echo/", views.echo),
    path("digest/", views.body_digest),
    path("upload/", views.upload),
    path("ignore/", views.ignore_body),
    path("cookie/", views.set_cookie),
    path("session/", views.session_counter),
    path("big/", views.big),
    path("stream/", views.stream),
    path("later/", views.later),
    path("boom/", views.boom),
    path("file/", views.file_response),
    path("notes/", views.notes),
]
