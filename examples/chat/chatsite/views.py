"""Ordinary Django views, served by the workers through AsgiHandler (Channels' default http.request route)."""

import os

from django.http import JsonResponse
from django.shortcuts import render


def index(request):
    request.session["visits"] = request.session.get("visits", 0) + 1
    return render(request, "chat.html", {"visits": request.session["visits"]})


def healthz(request):
    return JsonResponse({"ok": True, "worker_pid": os.getpid()})
