"""The small HTML page the interface server and the WSGI adapter answer their own errors with.

No Twisted here, so the WSGI adapter can use it without importing the reactor machinery: the
caller supplies the status line's words (Twisted's reason phrase for the server, as Daphne sent;
the standard one for the adapter).
"""

from __future__ import annotations

import html

__all__ = ["error_html"]


def error_html(title: str, detail: str, *, footer: str = "") -> bytes:
    """``<html>…<h1>{title}</h1><p>{detail}</p>…`` as UTF-8, ``detail`` escaped; ``footer`` only if given."""
    tail = f"<footer>{html.escape(footer)}</footer>" if footer else ""
    return (
        f"<html><head><title>{title}</title></head><body><h1>{title}</h1>"
        f"<p>{html.escape(detail)}</p>{tail}</body></html>"
    ).encode()
