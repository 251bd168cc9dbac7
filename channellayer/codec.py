"""Message encoding: msgpack with ``use_bin_type`` (asgi_redis 1.4.3's format), optional Fernet.

``str`` travels as msgpack *str* and ``bytes`` as *bin*, so the two never mix; tuples come back as
lists. With ``symmetric_encryption_keys`` each key becomes a Fernet key the way asgi_redis derived
it (URL-safe base64 of the SHA-256 of the key's UTF-8 bytes); the first key encrypts and all keys
decrypt, which allows rotation. Only bodies are encrypted, never channel or group names.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import msgpack

from .errors import InvalidMessage, MessageTooLarge

__all__ = ["Codec", "DEFAULT_MAX_MESSAGE_SIZE", "derive_fernet_key"]

#: The ASGI 1 spec's limit: "1 MB"; we count the encoded (pre-encryption) bytes.
DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024

_ALLOWED = (bytes, str, int, float, bool, list, tuple, dict, type(None))


def derive_fernet_key(key: str | bytes) -> bytes:
    raw = key.encode("utf8") if isinstance(key, str) else key
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def _find_bad_value(value: Any, path: str) -> str | None:
    if not isinstance(value, _ALLOWED):
        return f"{path} is a {type(value).__name__}"
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has a non-str key {key!r}"
            found = _find_bad_value(item, f"{path}[{key!r}]")
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _find_bad_value(item, f"{path}[{index}]")
            if found:
                return found
    return None


class Codec:
    """Turns message dicts into the bytes a backend stores, and back."""

    def __init__(
        self,
        symmetric_encryption_keys: Sequence[str | bytes] | None = None,
        expiry: int = 60,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.max_message_size = max_message_size
        self._crypter = None
        if symmetric_encryption_keys is not None:
            if isinstance(symmetric_encryption_keys, (str, bytes)) or not isinstance(
                symmetric_encryption_keys, (list, tuple)
            ):
                raise ValueError(
                    f"symmetric_encryption_keys must be a list of keys, not {type(symmetric_encryption_keys).__name__}"
                )
            if not symmetric_encryption_keys:
                raise ValueError("symmetric_encryption_keys is an empty list")
            try:
                from cryptography.fernet import Fernet, MultiFernet
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ValueError(
                    "symmetric_encryption_keys needs the 'cryptography' package: "
                    "pip install 'channels-classic[encryption]'"
                ) from exc
            self._crypter = MultiFernet([Fernet(derive_fernet_key(k)) for k in symmetric_encryption_keys])
            # asgi_redis let tokens live ten seconds past the message expiry.
            self._ttl = expiry + 10

    @property
    def encrypted(self) -> bool:
        return self._crypter is not None

    def encode(self, channel: str, message: Mapping[str, Any]) -> bytes:
        """Encode ``message`` for ``channel``; raise InvalidMessage or MessageTooLarge."""
        try:
            data: bytes = msgpack.packb(message, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            problem = _find_bad_value(message, "message") or str(exc)
            raise InvalidMessage(f"message for channel {channel!r} cannot be serialised: {problem}") from None
        if len(data) > self.max_message_size:
            raise MessageTooLarge(channel, len(data), self.max_message_size)
        if self._crypter is not None:
            return self._crypter.encrypt(data)
        return data

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode stored bytes; raise ValueError when they are not a message of ours."""
        if self._crypter is not None:
            from cryptography.fernet import InvalidToken

            try:
                data = self._crypter.decrypt(data, ttl=self._ttl)
            except InvalidToken:
                raise ValueError("message could not be decrypted with any of the configured keys") from None
        try:
            message = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise ValueError(f"message is not valid msgpack: {exc}") from None
        if not isinstance(message, dict):
            raise ValueError(f"message is a {type(message).__name__}, not a dict")
        return message
