"""Views for the HTTP handler tests: echo, cookies/sessions, streaming, large bodies, ResponseLater, errors."""

import hashlib
import json

from django.http import FileResponse, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from worker.exceptions import ResponseLater


@csrf_exempt
def echo(request):
    meta_keys = (
        "REQUEST_METHOD",
        "QUERY_STRING",
        "SCRIPT_NAME",
        "PATH_INFO",
        "REMOTE_ADDR",
        "REMOTE_HOST",
        "REMOTE_PORT",
        "SERVER_NAME",
        "SERVER_PORT",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "HTTP_X_MULTI",
        "HTTP_HOST",
        "HTTP_COOKIE",
    )
    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            "path_info": request.path_info,
            "GET": {k: request.GET.getlist(k) for k in request.GET},
            "POST": {k: request.POST.getlist(k) for k in request.POST},
            "COOKIES": request.COOKIES,
            "meta": {k: request.META.get(k) for k in meta_keys},
            "secure": request.is_secure(),
            "encoding": request.encoding,
        }
    )


@csrf_exempt
def body_digest(request):
    body = request.body
    return JsonResponse({"length": len(body), "sha1": hashlib.sha1(body).hexdigest()})


@csrf_exempt
def upload(request):
    upload = request.FILES["file"]
    data = upload.read()
    return JsonResponse(
        {
            "name": upload.name,
            "length": len(data),
            "sha1": hashlib.sha1(data).hexdigest(),
            "field": request.POST.get("field"),
        }
    )


def ignore_body(request):
    return HttpResponse("ignored")


def set_cookie(request):
    response = HttpResponse("cookie set")
    response.set_cookie("flavour", "oatmeal")
    return response


def session_counter(request):
    request.session["count"] = request.session.get("count", 0) + 1
    return HttpResponse(str(request.session["count"]))


def big(request):
    size = int(request.GET.get("size", 3 * 1024 * 1024))
    return HttpResponse(b"x" * size, content_type="application/octet-stream")


def stream(request):
    parts = int(request.GET.get("parts", 3))
    return StreamingHttpResponse((f"part{i};".encode() for i in range(parts)), content_type="text/plain")


def later(request):
    request.session["later"] = True
    raise ResponseLater()


def boom(request):
    raise RuntimeError("view exploded")


def file_response(request):
    import io

    return FileResponse(io.BytesIO(b"f" * (1024 * 1024 + 10)), content_type="application/octet-stream")


def json_post(request):
    return HttpResponse(json.dumps({"got": request.body.decode()}), content_type="application/json")


def notes(request):
    from .models import Note

    return JsonResponse({"titles": list(Note.objects.order_by("pk").values_list("title", flat=True))})
