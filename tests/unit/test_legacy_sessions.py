"""Mixed-fleet mode (worker.legacy_sessions): Django 2.2's session encoding and SHA-1 auth hash.

The two fixtures were produced by Django 2.2.28 from the legacy venv, with SECRET_KEY
"legacy-fixture-key": ``db.SessionStore().encode({"room": "red", "_auth_user_id": "7"})`` and
``User(password=PASSWORD).get_session_auth_hash()``.
"""

from __future__ import annotations

import base64

import django
import pytest

django.setup()  # ready() installs the mixed-fleet rules; the models below need the app registry

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore as DbSession  # noqa: E402
from django.core import signing  # noqa: E402
from django.test import override_settings  # noqa: E402

from worker.auth import get_user  # noqa: E402
from worker.legacy_sessions import accepted_fallback_hashes, legacy_decode, legacy_session_auth_hash  # noqa: E402

DJANGO22_DATA = "MWRhYTdkOWFkNWVkZDcxYzdkNTY4M2M5OWE5YTVjZDA2YWFmYjBhNjp7InJvb20iOiJyZWQiLCJfYXV0aF91c2VyX2lkIjoiNyJ9"
DJANGO22_DICT = {"room": "red", "_auth_user_id": "7"}
PASSWORD = "md5$salt$0123456789abcdef0123456789abcdef"
DJANGO22_AUTH_HASH = "aca4df9c53e2469c3ea4933d49c3492f7ce07f03"
KEY = override_settings(SECRET_KEY="legacy-fixture-key")
BACKEND = "tests.unit.test_legacy_sessions.FixedUserBackend"


class FixedUserBackend:
    """An auth backend with one user (pk 7, PASSWORD), no database."""

    def get_user(self, user_id):
        return User(pk=7, username="seven", password=PASSWORD) if user_id == 7 else None


@pytest.fixture(autouse=True)
def fixture_key():
    with KEY, override_settings(AUTHENTICATION_BACKENDS=[BACKEND]):
        yield


@pytest.mark.parametrize("mode", [True, False])
def test_django22_stored_session_is_read_in_either_mode(mode):
    """A database session written by Django 2.2 decodes to its dict, mode on or off."""
    with override_settings(CHANNELS_CLASSIC_MIXED_FLEET=mode):
        assert DbSession().decode(DJANGO22_DATA) == DJANGO22_DICT


def test_mixed_fleet_writes_exactly_what_django22_writes():
    """With the mode on, encode() gives Django 2.2's bytes for the same dict and key."""
    with override_settings(CHANNELS_CLASSIC_MIXED_FLEET=True):
        assert DbSession().encode(DJANGO22_DICT) == DJANGO22_DATA


def test_mode_off_writes_the_modern_signed_form_and_reads_it_back():
    """With the mode off, encode() is Django's signing form (not base64 of hash:data), and round-trips."""
    with override_settings(CHANNELS_CLASSIC_MIXED_FLEET=False):
        store = DbSession()
        data = store.encode(DJANGO22_DICT)
        assert legacy_decode(store, data) is None
        assert signing.loads(data, salt=store.key_salt, serializer=store.serializer) == DJANGO22_DICT
        assert store.decode(data) == DJANGO22_DICT


def test_tampered_or_foreign_key_legacy_data_is_an_empty_session():
    """A legacy session whose MAC does not match (changed data, or another SECRET_KEY) reads as {}."""
    raw = base64.b64decode(DJANGO22_DATA)
    tampered = base64.b64encode(raw.replace(b"red", b"rod")).decode()
    assert DbSession().decode(tampered) == {}
    with override_settings(SECRET_KEY="another-key"):
        assert DbSession().decode(DJANGO22_DATA) == {}
    with override_settings(SECRET_KEY="another-key", SECRET_KEY_FALLBACKS=["legacy-fixture-key"]):
        assert DbSession().decode(DJANGO22_DATA) == DJANGO22_DICT


def test_auth_hash_is_django22s_in_mixed_fleet_and_sha256_otherwise():
    """get_session_auth_hash() is Django 2.2's SHA-1 value with the mode on; SHA-256 with it off, the SHA-1 one
    then being an accepted fallback (and the SHA-256 one a fallback with the mode on)."""
    user = User(pk=7, password=PASSWORD)
    assert legacy_session_auth_hash(user) == DJANGO22_AUTH_HASH
    with override_settings(CHANNELS_CLASSIC_MIXED_FLEET=True):
        assert user.get_session_auth_hash() == DJANGO22_AUTH_HASH
        modern = list(accepted_fallback_hashes(user))
    with override_settings(CHANNELS_CLASSIC_MIXED_FLEET=False):
        assert len(user.get_session_auth_hash()) == 64
        assert modern == [user.get_session_auth_hash()]
        assert list(accepted_fallback_hashes(user)) == [DJANGO22_AUTH_HASH]


def logged_in_session(auth_hash: str) -> DbSession:
    session = DbSession()
    session.update({SESSION_KEY: "7", BACKEND_SESSION_KEY: BACKEND, HASH_SESSION_KEY: auth_hash, "room": "red"})
    session.modified = False
    return session


def test_channel_session_user_keeps_the_sha1_hash_in_mixed_fleet():
    """Mode on: a session with Django 2.2's hash gives the user and is left as it is (old workers accept it)."""
    session = logged_in_session(DJANGO22_AUTH_HASH)
    with override_settings(CHANNELS_CLASSIC_MIXED_FLEET=True):
        assert get_user(session).username == "seven"
    assert (session[HASH_SESSION_KEY], session.modified) == (DJANGO22_AUTH_HASH, False)


def test_channel_session_user_upgrades_the_sha1_hash_with_the_mode_off():
    """Mode off: Django 2.2's hash is accepted and replaced by the SHA-256 one, same session key, room kept."""
    session = logged_in_session(DJANGO22_AUTH_HASH)
    session._session_key = "chn" + "a" * 29
    with override_settings(CHANNELS_CLASSIC_MIXED_FLEET=False):
        assert get_user(session).username == "seven"
        assert session[HASH_SESSION_KEY] == User(pk=7, password=PASSWORD).get_session_auth_hash()
    assert (session.session_key, session["room"], session.modified) == ("chn" + "a" * 29, "red", True)


def test_channel_session_user_with_the_mode_on_rewrites_a_sha256_hash_as_sha1():
    """Mode on: a SHA-256 hash (written before the mode was on) is accepted and replaced by the SHA-1 one."""
    with override_settings(CHANNELS_CLASSIC_MIXED_FLEET=False):
        modern = User(pk=7, password=PASSWORD).get_session_auth_hash()
    session = logged_in_session(modern)
    with override_settings(CHANNELS_CLASSIC_MIXED_FLEET=True):
        assert get_user(session).username == "seven"
    assert session[HASH_SESSION_KEY] == DJANGO22_AUTH_HASH


@pytest.mark.parametrize("mode", [True, False])
def test_a_wrong_hash_flushes_the_session(mode):
    """A hash matching neither form (password changed) gives AnonymousUser and empties the session."""
    session = logged_in_session("0" * 40)
    with override_settings(CHANNELS_CLASSIC_MIXED_FLEET=mode):
        assert get_user(session).is_anonymous
    assert session.is_empty()
