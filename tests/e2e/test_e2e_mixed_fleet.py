"""A live migration with logged-in WebSocket users: old and new workers share sessions.

The project (``tests/e2e/mixedfleet``) is a Channels 1 chat: users log in over HTTP, connect to a
room with ``channel_session_user_from_http``, and every message is sent to the room by a consumer
that reads the user and the room from the channel session. Users and (in the ``db`` case) sessions
live in one SQLite file; in the ``cache`` case sessions live in a shared file-based cache.

Daphne 1.4.2 stays in front throughout. Phases, each with every socket sending and every message
counted exactly at every socket of its room:

1. ``old``: two Channels 1.1.8 workers (Django 2.2) only.
2. ``join``: two of our workers join with ``CHANNELS_CLASSIC_MIXED_FLEET = True``; more users log in
   (served by either stack) and connect.
3. ``switch``: the old workers are stopped.
4. ``off``: our workers are replaced by ones with the mode off; more users log in and connect.

At the end every user is still logged in over HTTP too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import websocket

from tests.e2e.stack import wait_listening
from tests.legacy import legacy_venv
from tests.support.processes import ManagedProcess, RedisServer, start_server

pytestmark = [pytest.mark.redis, pytest.mark.legacy, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "tests" / "e2e" / "mixedfleet"
OUR_PYTHON = sys.executable
ROOMS = ("red", "blue", "green", "gold")
PER_SOCKET = 5  # messages each socket sends per phase


class Fleet:
    """The processes of one migration: Daphne 1.4.2, old workers and ours, on one Redis prefix."""

    def __init__(self, redis: RedisServer, sessions: str, tmp: Path):
        self.redis, self.sessions = redis, sessions
        self.db, self.cache = tmp / "fleet.sqlite3", tmp / "session-cache"
        self.prefix = f"mixedfleet-{sessions}-{os.getpid()}:"
        self.processes: list[ManagedProcess] = []
        self.port = 0
        self.legacy = legacy_venv()

    def env(self, stack: str, mixed: bool = False) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.update(
            {
                "E2E_REDIS_PORT": str(self.redis.port),
                "E2E_PREFIX": self.prefix,
                "E2E_DB": str(self.db),
                "E2E_CACHE_DIR": str(self.cache),
                "E2E_SESSIONS": self.sessions,
                "E2E_STACK": stack,
                "E2E_MIXED_FLEET": "1" if mixed else "0",
                "DJANGO_SETTINGS_MODULE": "mixedfleet.settings",
                "PYTHONUNBUFFERED": "1",
                # Ours needs the repo on the path; the old stack must not see it.
                "PYTHONPATH": str(PROJECT) if stack == "old" else f"{PROJECT}:{ROOT}",
            }
        )
        return env

    def legacy_manage(self, *args: str) -> str:
        out = subprocess.run(
            [str(self.legacy / "bin" / "python"), "manage.py", *args],
            cwd=PROJECT,
            env=self.env("old"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    def create_users(self, count: int) -> None:
        """The schema and users, made by the old Django (as in a project being migrated)."""
        self.legacy_manage("migrate", "-v0")
        self.legacy_manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User\n"
            f"for i in range({count}): User.objects.create_user('u%d' % i, password='pw')",
        )

    def daphne(self) -> None:
        daphne = str(self.legacy / "bin" / "daphne")
        process = start_server(
            "legacy-daphne",
            lambda port: [daphne, "-b", "127.0.0.1", "-p", str(port), "mixedfleet.asgi:channel_layer"],
            env=self.env("old"),
            cwd=str(PROJECT),
            timeout=30,
        )
        self.processes.append(process)
        self.port = process.port or 0

    def worker(self, name: str, stack: str, mixed: bool = False) -> ManagedProcess:
        python = str(self.legacy / "bin" / "python") if stack == "old" else OUR_PYTHON
        process = ManagedProcess(name, [python, "manage.py", "runworker"], env=self.env(stack, mixed), cwd=str(PROJECT))
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        for process in self.processes:  # shown by pytest when the test fails
            print(f"----- {process.name} -----\n{process.log()[-6000:]}")


def stop_gracefully(processes: list[ManagedProcess]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        assert process.popen.wait(30) == 0, process.log()


class ChatSocket:
    """A logged-in user's socket in a room; a thread collects what the room sends it."""

    def __init__(self, url: str, user: str, room: str, session_cookie: str):
        self.user, self.room = user, room
        self.ws = websocket.create_connection(
            f"{url}/room/{room}/", timeout=30, header=[f"Cookie: sessionid={session_cookie}"]
        )
        self.joined = json.loads(self.ws.recv())
        self.received: list[dict] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                frame = self.ws.recv()
                if not frame:
                    return
                with self.lock:
                    self.received.append(json.loads(frame))
        except Exception as exc:  # reported by the test as a lost socket
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def texts(self, phase: str) -> list[str]:
        with self.lock:
            return sorted(m["text"] for m in self.received if m["text"].startswith(phase + ":"))


class Migration:
    """Users, their sockets and what each phase delivered."""

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self.sockets: list[ChatSocket] = []
        self.cookies: dict[str, str] = {}
        self.next_user = 0
        self.login_stacks: list[str] = []
        self.handled_by: dict[str, set[str]] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.fleet.port}"

    def log_in_and_connect(self, count: int) -> None:
        """``count`` more users log in over HTTP and connect a socket each (rooms alternate)."""
        for _ in range(count):
            user = f"u{self.next_user}"
            self.next_user += 1
            session = requests.Session()
            response = session.get(self.url + "/login/", params={"user": user}, timeout=30)
            assert response.status_code == 200, response.text
            self.login_stacks.append(response.json()["stack"])
            self.cookies[user] = session.cookies["sessionid"]
            room = ROOMS[len(self.sockets) % len(ROOMS)]
            socket = ChatSocket(self.url.replace("http", "ws"), user, room, self.cookies[user])
            assert (socket.joined["joined"], socket.joined["user"]) == (room, user), socket.joined
            self.sockets.append(socket)

    def run_phase(self, phase: str, timeout: float = 60.0) -> None:
        """Every socket sends PER_SOCKET messages; each socket must get exactly its room's."""
        for n in range(PER_SOCKET):
            for socket in self.sockets:
                socket.ws.send(f"{phase}:{socket.user}:{n}")
        expected = {
            id(s): sorted(f"{phase}:{o.user}:{n}" for o in self.sockets if o.room == s.room for n in range(PER_SOCKET))
            for s in self.sockets
        }
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(len(s.texts(phase)) >= len(expected[id(s)]) for s in self.sockets):
                break
            time.sleep(0.1)
        time.sleep(0.5)  # a duplicate would arrive now
        got = {id(s): s.texts(phase) for s in self.sockets}
        counts = [(s.user, len(got[id(s)]), len(expected[id(s)])) for s in self.sockets]
        assert got == expected, (
            f"phase {phase}: (user, received, expected) {counts}; socket errors {[s.errors for s in self.sockets]}"
        )
        stacks = set()
        for socket in self.sockets:
            with socket.lock:
                for message in socket.received:
                    if message["text"].startswith(phase + ":"):
                        # The sender's name comes from message.user on the worker that handled it.
                        assert message["from"] == message["text"].split(":")[1], message
                        stacks.add(message["stack"])
        self.handled_by[phase] = stacks
        print(
            f"phase {phase}: {len(self.sockets)} sockets, "
            f"{sum(len(v) for v in got.values())} deliveries, handled by {sorted(stacks)}"
        )


@pytest.mark.parametrize("sessions", ["cache", "db"])
def test_logged_in_sockets_survive_a_mixed_fleet_migration(redis_server, tmp_path, sessions):
    """Old 1.1.8 workers, then ours in mixed-fleet mode, then ours alone, then the mode off:
    every message of every logged-in socket delivered exactly once, by the right user."""
    fleet = Fleet(redis_server, sessions, tmp_path)
    try:
        fleet.create_users(20)
        old = [fleet.worker("old-1", "old"), fleet.worker("old-2", "old")]
        fleet.daphne()
        for process in old:
            wait_listening(process)
        migration = Migration(fleet)
        migration.log_in_and_connect(6)
        assert set(migration.login_stacks) == {"old"}
        migration.run_phase("old")

        mixed = [
            fleet.worker("ours-mixed-1", "ours-mixed", mixed=True),
            fleet.worker("ours-mixed-2", "ours-mixed", mixed=True),
        ]
        for process in mixed:
            wait_listening(process)
        # Log in until both stacks have written a login (each request goes to whichever worker is free).
        while len(migration.sockets) < 18 and {"old", "ours-mixed"} - set(migration.login_stacks[6:]):
            migration.log_in_and_connect(1)
        assert {"old", "ours-mixed"} <= set(migration.login_stacks[6:]), migration.login_stacks
        migration.run_phase("join")
        assert migration.handled_by["join"] == {"old", "ours-mixed"}

        stop_gracefully(old)
        migration.run_phase("switch")
        assert migration.handled_by["switch"] == {"ours-mixed"}

        off = [fleet.worker("ours-1", "ours"), fleet.worker("ours-2", "ours")]
        for process in off:
            wait_listening(process)
        stop_gracefully(mixed)
        migration.log_in_and_connect(2)
        migration.run_phase("off")
        assert migration.handled_by["off"] == {"ours"}

        for user, cookie in migration.cookies.items():  # the HTTP sessions survived too
            response = requests.get(migration.url + "/whoami/", cookies={"sessionid": cookie}, timeout=30)
            assert response.json()["user"] == user, (user, response.text)
        tracebacks = [p.name for p in fleet.processes if "Traceback" in p.log()]
        assert tracebacks == [], [p.log() for p in fleet.processes if p.name in tracebacks]
    finally:
        fleet.stop()
