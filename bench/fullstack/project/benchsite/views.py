"""The benchmark's views: plain Django, identical for every system."""

from django.http import HttpResponse, StreamingHttpResponse

BIG = b"x" * (100 * 1024)
CHUNK = b"s" * (64 * 1024)


def hello(request):
    return HttpResponse(b"Hello, world!", content_type="text/plain")


def big(request):
    """A 100 KB body."""
    return HttpResponse(BIG, content_type="application/octet-stream")


def upload(request):
    """Reads the whole request body (the 1 MB POST) and answers its length."""
    return HttpResponse(str(len(request.body)).encode(), content_type="text/plain")


def stream(request):
    """``?mb=N``: N MiB as a streamed response of 64 KiB parts (one layer message each behind a worker)."""
    parts = int(request.GET.get("mb", "1")) * 16

    def produce():
        for _ in range(parts):
            yield CHUNK

    response = StreamingHttpResponse(produce(), content_type="application/octet-stream")
    response["Content-Length"] = str(parts * len(CHUNK))
    return response
