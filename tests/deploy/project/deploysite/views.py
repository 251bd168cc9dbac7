"""Views, served by the workers through AsgiHandler."""

import json
import os

from django.http import HttpResponse


def hello(request):
    return HttpResponse(
        json.dumps(
            {
                "pid": os.getpid(),
                "remote_addr": request.META.get("REMOTE_ADDR"),
                "scheme": request.scheme,
                "host": request.get_host(),
            }
        ),
        content_type="application/json",
    )


def healthz(request):
    return HttpResponse(json.dumps({"ok": True, "pid": os.getpid()}), content_type="application/json")
