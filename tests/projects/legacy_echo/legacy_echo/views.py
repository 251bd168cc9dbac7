"""Plain Django views served through Channels' AsgiHandler by runworker."""

import hashlib
import time

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

BIG_SIZE = 3 * 1024 * 1024


def hello(request):
    return JsonResponse(
        {
            "path": request.path,
            "method": request.method,
            "query": request.GET.dict(),
            "trace": request.META.get("HTTP_X_TRACE", ""),
        }
    )


@csrf_exempt
def echo(request):
    body = request.body
    return JsonResponse(
        {
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "content_type": request.META.get("CONTENT_TYPE", ""),
        }
    )


def stream(request):
    def chunks():
        for i in range(5):
            if i:
                time.sleep(0.1)
            yield f"chunk{i}\n".encode()

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def big(request):
    block = bytes(range(256)) * 4096  # 1 MiB
    return HttpResponse(block * (BIG_SIZE // len(block)), content_type="application/octet-stream")
