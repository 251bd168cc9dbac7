from django.urls import path

from . import views

urlpatterns = [
    path("hello/", views.hello),
    path("big/", views.big),
    path("upload/", views.upload),
    path("stream/", views.stream),
]
