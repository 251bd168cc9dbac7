from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("rooms/<str:room>/", views.room, name="room"),
    path("reports/<int:pk>/", views.report, name="report"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz),
]
