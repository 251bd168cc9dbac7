"""Ordinary Django views, served through AsgiHandler by the workers."""

import hashlib
import json
import os
import time

from django.http import HttpResponse, StreamingHttpResponse


def _json(data, status=200):
    return HttpResponse(json.dumps(data), content_type="application/json", status=status)


def hello(request):
    if request.GET.get("sleep"):
        time.sleep(float(request.GET["sleep"]))
    return _json({"hello": request.GET.get("name", "world"), "pid": os.getpid()})


def session_set(request):
    request.session["value"] = request.GET["value"]
    return _json({"stored": request.GET["value"], "pid": os.getpid()})


def session_get(request):
    return _json({"value": request.session.get("value"), "pid": os.getpid()})


def stream(request):
    def parts():
        for i in range(5):
            yield f"part{i}\n".encode()
            time.sleep(0.1)

    return StreamingHttpResponse(parts(), content_type="text/plain")


def stream_mb(request):
    """``?mb=N``: N MiB streamed in 512 KiB parts (flow-control tests)."""
    part = b"z" * (512 * 1024)
    return StreamingHttpResponse(
        (part for _ in range(2 * int(request.GET.get("mb", "1")))), content_type="application/octet-stream"
    )


def upload(request):
    body = request.body
    return _json({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()})


def big(request):
    return HttpResponse(bytes(range(256)) * 4096 * 3, content_type="application/octet-stream")
