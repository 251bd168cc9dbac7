"""How a delayed message's content is stored in the ``content`` text column.

Channels 1.1.8 stored ``json.dumps(content)``, so bytes (WebSocket binary frames, HTTP bodies) could
not be delayed. We store JSON when it gives back exactly the same content (so a 1.1.8 ``rundelay``
on the same database can still read those rows), and otherwise ``"msgpack:"`` followed by base64 of
the msgpack encoding (``use_bin_type``), the layer's own format. Both forms are read back.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import msgpack

__all__ = ["decode_content", "encode_content"]

_PREFIX = "msgpack:"


def _json_exact(content: dict[str, Any]) -> str | None:
    try:
        text = json.dumps(content)
    except (TypeError, ValueError):
        return None
    return text if json.loads(text) == content else None


def encode_content(content: dict[str, Any]) -> str:
    """Text for the ``content`` column; raises ``TypeError`` if the content cannot be encoded."""
    if not isinstance(content, dict):
        raise TypeError(f"delayed content must be a dict, not {type(content).__name__}")
    text = _json_exact(content)
    if text is not None:
        return text
    packed = msgpack.packb(content, use_bin_type=True)
    return _PREFIX + base64.b64encode(packed).decode("ascii")


def decode_content(text: str) -> dict[str, Any]:
    """The content stored by :func:`encode_content` or by Channels 1.1.8 (JSON); ``ValueError`` if neither."""
    if text.startswith(_PREFIX):
        try:
            content = msgpack.unpackb(base64.b64decode(text[len(_PREFIX) :], validate=True), raw=False)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise ValueError(f"undecodable delayed content: {exc}") from exc
    else:
        content = json.loads(text)
    if not isinstance(content, dict):
        raise ValueError(f"delayed content is a {type(content).__name__}, not a dict")
    return content
