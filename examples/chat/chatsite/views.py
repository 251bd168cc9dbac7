"""Ordinary Django views, served by the workers through ``AsgiHandler`` (see routing.py)."""

import os
import re

from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render

from .models import ChatMessage, Note, Report

ROOM_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,50}$")


@login_required
def index(request):
    return redirect("room", room=request.GET.get("room") or "lobby")


@login_required
def room(request, room):
    if not ROOM_NAME.match(room):
        raise Http404("room names are 1-50 letters, digits, '-' or '_'")
    request.session["visits"] = request.session.get("visits", 0) + 1
    recent = list(ChatMessage.objects.filter(room=room).select_related("author").order_by("-pk")[:20])[::-1]
    return render(
        request,
        "room.html",
        {
            "room": room,
            "visits": request.session["visits"],
            "recent": recent,
            "notes": Note.objects.filter(room=room).select_related("author"),
            "reports": Report.objects.filter(owner=request.user).order_by("-pk")[:5],
        },
    )


@login_required
def report(request, pk):
    return render(request, "report.html", {"report": get_object_or_404(Report, pk=pk, owner=request.user)})


def healthz(request):
    """Liveness for scripts and probes: which worker process answered."""
    return JsonResponse({"ok": True, "worker_pid": os.getpid()})
