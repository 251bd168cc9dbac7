"""Log in over HTTP (served by whichever worker takes the request) and say who is logged in."""

import json
import os

from django.contrib.auth import authenticate, login
from django.http import HttpResponse

STACK = os.environ.get("E2E_STACK", "?")


def _json(data, status=200):
    return HttpResponse(json.dumps(data), content_type="application/json", status=status)


def login_view(request):
    user = authenticate(request, username=request.GET["user"], password="pw")
    if user is None:
        return _json({"error": "bad credentials"}, status=403)
    login(request, user)
    return _json({"user": user.username, "stack": STACK})


def whoami(request):
    return _json({"user": request.user.username, "stack": STACK})
