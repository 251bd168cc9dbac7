"""``AsgiRequest``: a Django ``HttpRequest`` built from an ASGI 1 ``http.request`` message.

Theory of operation: ``META`` is filled the way Channels 1.1.8 filled it (reference §5.9), so views,
middleware and ``request.get_host()`` see what they saw under Daphne. The body is ``message["body"]``
followed by every chunk of ``message["body_channel"]`` (reference §2.2), read in the constructor
within :attr:`AsgiRequest.body_receive_timeout` seconds.

Unlike 1.1.8 the body is never held whole in memory: chunks go into a ``SpooledTemporaryFile`` that
moves to disk past ``FILE_UPLOAD_MAX_MEMORY_SIZE``, and Django's own ``request.body`` checks then apply
``DATA_UPLOAD_MAX_MEMORY_SIZE`` exactly as on WSGI. A non-multipart body that grows past that limit
stops being stored at all (the rest is drained and discarded); reading it raises Django's
``RequestDataTooBig``, which Django answers with 400 — the same answer it gives on WSGI, where a view
that never reads the body is not refused either.
"""

from __future__ import annotations

import tempfile
import time
from io import BytesIO
from typing import IO, Any

from django import http
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.functional import cached_property

from .exceptions import RequestAborted, RequestTimeout, ResponseLater

__all__ = ["AsgiRequest"]


def _header_meta_name(name: str) -> str:
    if name == "content-length":
        return "CONTENT_LENGTH"
    if name == "content-type":
        return "CONTENT_TYPE"
    return "HTTP_" + name.upper().replace("-", "_")


class _OversizeStream:
    """Stands in for a body that passed ``DATA_UPLOAD_MAX_MEMORY_SIZE``: any read raises."""

    def _refuse(self, *args: Any, **kwargs: Any) -> bytes:
        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")

    read = readline = _refuse

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        pass


class AsgiRequest(http.HttpRequest):
    """An ``HttpRequest`` decoded from an ASGI 1 ``http.request`` message (a ``Message``).

    Raises ``UnicodeDecodeError`` for a query string that is not UTF-8, :class:`RequestTimeout` when
    the body channel is not complete within :attr:`body_receive_timeout` seconds, and
    :class:`RequestAborted` when a body chunk says ``closed``. ``AsgiHandler`` turns these into
    400, 408 and no response at all.
    """

    ResponseLater = ResponseLater

    #: Seconds allowed for reading every chunk of ``body_channel`` (1.1.8: 60).
    body_receive_timeout: float = 60

    def __init__(self, message: Any) -> None:
        self.message = message
        self.reply_channel = getattr(message, "reply_channel", None)
        self._read_started = False
        #: True once the body failed to parse as a form (Django <= 1.11's flag; 1.1.8 users' tests read it).
        self._post_parse_error = False
        self.resolver_match = None
        self.path = message["path"]
        self.script_name = message.get("root_path", "") or ""
        if self.script_name and self.path.startswith(self.script_name):
            self.path_info = self.path[len(self.script_name) :]
        else:
            self.path_info = self.path
        self.method = message["method"].upper()
        query_string = message.get("query_string", b"") or b""
        if isinstance(query_string, bytes):
            query_string = query_string.decode("utf-8")
        self.META: dict[str, Any] = {
            "REQUEST_METHOD": self.method,
            "QUERY_STRING": query_string,
            "SCRIPT_NAME": self.script_name,
            "PATH_INFO": self.path_info,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
        }
        client = message.get("client")
        if client:
            self.META["REMOTE_ADDR"] = client[0]
            self.META["REMOTE_HOST"] = client[0]
            self.META["REMOTE_PORT"] = client[1]
        server = message.get("server")
        if server:
            self.META["SERVER_NAME"] = server[0]
            self.META["SERVER_PORT"] = str(server[1])
        else:
            self.META["SERVER_NAME"] = "unknown"
            self.META["SERVER_PORT"] = "0"
        self._fill_headers(message.get("headers") or [])
        self._set_content_type_params(self.META)
        self._stream: IO[bytes] | _OversizeStream = self._read_body(message)

    def _fill_headers(self, headers: Any) -> None:
        if isinstance(headers, dict):
            # The pre-1.0 ASGI form {name: value}; 1.1.8 still accepted it.
            headers = [
                (name.encode("latin1") if isinstance(name, str) else name, value) for name, value in headers.items()
            ]
        for raw_name, raw_value in headers:
            name = raw_name.decode("latin1") if isinstance(raw_name, bytes) else raw_name
            value = raw_value.decode("latin1") if isinstance(raw_value, bytes) else raw_value
            key = _header_meta_name(name.lower())
            if key in self.META:
                value = self.META[key] + "," + value
            self.META[key] = value

    def _body_limit(self) -> int | None:
        """The size past which the stored body is dropped, or None where Django sets no limit."""
        if self.content_type == "multipart/form-data":
            # Django limits multipart uploads per field (MultiPartParser), files go to disk.
            return None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return None if limit is None else int(limit)

    def _read_body(self, message: Any) -> IO[bytes] | _OversizeStream:
        first = message.get("body", b"") or b""
        if not isinstance(first, bytes):
            raise TypeError(f"http.request 'body' must be bytes, not {type(first).__name__}")
        body_channel = message.get("body_channel")
        if not body_channel:
            return BytesIO(first)
        limit = self._body_limit()
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")
        size = len(first)
        spool.write(first)
        try:
            for chunk in self._body_chunks(message, body_channel):
                size += len(chunk)
                if limit is not None and size > limit:
                    # Keep draining so the client's upload completes, but store nothing more.
                    spool.close()
                    continue
                spool.write(chunk)
        except BaseException:
            spool.close()
            raise
        if spool.closed:
            return _OversizeStream()
        spool.seek(0)
        return spool

    def _body_chunks(self, message: Any, body_channel: str) -> Any:
        """Yield the content of each Request Body Chunk until ``more_content`` is false."""
        layer = message.channel_layer
        deadline = time.monotonic() + self.body_receive_timeout
        while True:
            chunk = None
            while chunk is None:
                if time.monotonic() >= deadline:
                    raise RequestTimeout()
                _, chunk = layer.receive([body_channel], block=True)
            if chunk.get("closed", False):
                raise RequestAborted()
            content = chunk.get("content", b"") or b""
            if not isinstance(content, bytes):
                raise TypeError(f"request body chunk 'content' must be bytes, not {type(content).__name__}")
            yield content
            if not chunk.get("more_content", False):
                return

    def close(self) -> None:
        super().close()
        self._stream.close()

    @cached_property
    def GET(self) -> http.QueryDict:
        return http.QueryDict(self.META["QUERY_STRING"], encoding=self._encoding)

    def _get_scheme(self) -> str:
        return str(self.message.get("scheme", "http") or "http")

    def _mark_post_parse_error(self) -> None:
        super()._mark_post_parse_error()
        self._post_parse_error = True

    def _get_post(self) -> http.QueryDict:
        if not hasattr(self, "_post"):
            self._load_post_and_files()
        return self._post

    def _set_post(self, post: http.QueryDict) -> None:
        self._post = post

    def _get_files(self) -> Any:
        if not hasattr(self, "_files"):
            self._load_post_and_files()
        return self._files

    POST = property(_get_post, _set_post)
    FILES = property(_get_files)

    @cached_property
    def COOKIES(self) -> dict[str, str]:
        cookies: dict[str, str] = http.parse_cookie(self.META.get("HTTP_COOKIE", ""))
        return cookies
