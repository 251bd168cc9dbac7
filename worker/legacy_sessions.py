"""Sessions and logins shared with old (Django < 3.1) workers: the mixed-fleet mode.

Django 3.1 moved two things from SHA-1 to SHA-256: the session auth hash (``HASH_SESSION_KEY``,
an HMAC of the password that ``get_user`` checks) and the encoding of stored session data (from
``base64(hmac_sha1_hex + ":" + serialized)`` to ``django.core.signing``). Django 3.1/3.2 read both
forms and wrote the old ones while ``DEFAULT_HASHING_ALGORITHM = "sha1"``; Django 4.0 dropped both.
Channels 1.1.8 runs on Django ≤ 2.2, so during a live migration its workers and ours share channel
and HTTP sessions that must stay readable by both.

:func:`install` (called from ``ChannelsConfig.ready``) gives Django that transition back:

- Always: stored sessions in the old encoding are read, and an old SHA-1 auth hash is accepted.
  With the mode off, whatever is saved again is written in the modern forms, so sessions upgrade
  as they are used and switching the mode off logs nobody out.
- ``CHANNELS_CLASSIC_MIXED_FLEET = True`` (while old workers share the sessions): sessions are
  written in the old encoding and ``get_session_auth_hash`` is the old SHA-1 one, so everything a
  new worker (or a view it serves) writes is accepted by an old worker; a modern hash found in a
  session is still accepted (and replaced by the SHA-1 one).

Signed-cookie sessions are not covered (they never lived server-side, so workers never shared them).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.utils.crypto import constant_time_compare, salted_hmac

__all__ = [
    "SETTING",
    "accepted_fallback_hashes",
    "install",
    "legacy_decode",
    "legacy_encode",
    "legacy_session_auth_hash",
    "mixed_fleet",
]

SETTING = "CHANNELS_CLASSIC_MIXED_FLEET"
_AUTH_HASH_SALT = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
# Old encoding after base64: 40 hex digits of HMAC-SHA1, a colon, the serialized session.
_LEGACY_DATA = re.compile(rb"\A([0-9a-f]{40}):(.*)\Z", re.DOTALL)

# Django's own methods, kept before install() wraps them.
_modern_encode = SessionBase.encode
_modern_decode = SessionBase.decode
_modern_auth_hash = AbstractBaseUser.get_session_auth_hash
_modern_fallback_hashes = AbstractBaseUser.get_session_auth_fallback_hash


def mixed_fleet() -> bool:
    """Whether ``CHANNELS_CLASSIC_MIXED_FLEET`` is on (default off)."""
    return bool(getattr(settings, SETTING, False))


def _secrets() -> list[str]:
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _legacy_data_mac(session: SessionBase, serialized: bytes, secret: str) -> str:
    # Django < 3.1 salted the MAC with the session class's plain name ("SessionStore").
    mac: str = salted_hmac(
        "django.contrib.sessions" + type(session).__name__, serialized, secret, algorithm="sha1"
    ).hexdigest()
    return mac


def legacy_encode(session: SessionBase, session_dict: dict[str, Any]) -> str:
    """``session_dict`` in Django 2.2's stored form: base64 of ``hmac_sha1_hex:serialized``."""
    serialized: bytes = session.serializer().dumps(session_dict)
    mac = _legacy_data_mac(session, serialized, settings.SECRET_KEY)
    return base64.b64encode(mac.encode("ascii") + b":" + serialized).decode("ascii")


def legacy_decode(session: SessionBase, session_data: str) -> dict[str, Any] | None:
    """The session dict of Django 2.2-encoded data, or None if ``session_data`` is not in that form
    or its MAC matches neither ``SECRET_KEY`` nor a ``SECRET_KEY_FALLBACKS`` entry."""
    try:
        raw = base64.b64decode(session_data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None  # the modern form has ':' separators, which are not base64
    match = _LEGACY_DATA.match(raw)
    if match is None:
        return None
    mac, serialized = match.group(1).decode("ascii"), match.group(2)
    if not any(constant_time_compare(mac, _legacy_data_mac(session, serialized, s)) for s in _secrets()):
        return None
    try:
        data = session.serializer().loads(serialized)
    except Exception:  # a serializer's error on bad data: an empty session, as Django does
        return None
    return data if isinstance(data, dict) else None


def legacy_session_auth_hash(user: Any) -> str:
    """The session auth hash Django < 3.1 stored and checks: HMAC-SHA1 of the password field."""
    digest: str = salted_hmac(_AUTH_HASH_SALT, user.password, algorithm="sha1").hexdigest()
    return digest


def accepted_fallback_hashes(user: Any) -> Iterator[str]:
    """Auth hashes accepted besides ``user.get_session_auth_hash()``: Django's own fallbacks
    (``SECRET_KEY_FALLBACKS``) and the other algorithm's hash (SHA-1 with the mode off, SHA-256 on)."""
    yield from _modern_fallback_hashes(user)
    yield _modern_auth_hash(user) if mixed_fleet() else legacy_session_auth_hash(user)


def _encode(self: SessionBase, session_dict: dict[str, Any]) -> str:
    """Old encoding in mixed-fleet mode, else Django's."""
    if mixed_fleet():
        return legacy_encode(self, session_dict)
    encoded: str = _modern_encode(self, session_dict)
    return encoded


def _decode(self: SessionBase, session_data: str) -> dict[str, Any]:
    """Either encoding; anything else is what Django makes of it (an empty session)."""
    legacy = legacy_decode(self, session_data)
    if legacy is not None:
        return legacy
    result: dict[str, Any] = _modern_decode(self, session_data)
    return result


def _get_session_auth_hash(self: AbstractBaseUser) -> str:
    """The SHA-1 hash in mixed-fleet mode (what old workers check), else Django's SHA-256 one."""
    if mixed_fleet():
        return legacy_session_auth_hash(self)
    result: str = _modern_auth_hash(self)
    return result


def _get_session_auth_fallback_hash(self: AbstractBaseUser) -> Iterator[str]:
    # Django's get_user() accepts these, then stores get_session_auth_hash() in their place.
    return accepted_fallback_hashes(self)


def install() -> None:
    """Make Django's sessions and auth hash follow the rules above (idempotent)."""
    SessionBase.encode = _encode
    SessionBase.decode = _decode
    AbstractBaseUser.get_session_auth_hash = _get_session_auth_hash
    AbstractBaseUser.get_session_auth_fallback_hash = _get_session_auth_fallback_hash
