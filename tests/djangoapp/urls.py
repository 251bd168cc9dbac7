"""No views: the worker tests drive consumers directly."""

urlpatterns: list = []
