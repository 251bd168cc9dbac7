"""Run the example project as real, separate processes: one interface server and two worker pools.

    python examples/demo.py [--port 8000] [--workers 2] [--report-workers 1] [--log-dir DIR] [--venv DIR] [--check]

What starts: ``daphne chatsite.asgi:channel_layer`` (the interface server), ``--workers`` processes of
``manage.py runworker --exclude-channels=reports.*`` (pages, chat, live list) and ``--report-workers``
processes of ``manage.py runworker --only-channels=reports.*`` (the background report pool). Before
that it runs ``migrate`` and creates a demo login (``--username``, ``--password``; a random password
by default), which it prints.

The channel layer is the embedded SQLite layer (a file under examples/chat/.run/), so nothing needs
installing; set REDIS_URL=redis://host:port/0 to use Redis instead. ``--venv DIR`` runs the processes
from another virtualenv: with the legacy Channels 1.1.8 / Daphne 1.4.2 stack and REDIS_URL, the same
project runs unchanged on the original packages. Ctrl-C (or SIGTERM) stops every
process and exits 0; if one of them dies on its own, the rest are stopped and the exit status is 1.

``--check`` starts everything on a free port with a fresh run directory, drives it like a person
would (log in, chat, the live list, a background report, both pools serving) and exits 0 on success:
the tests run the demo this way. The module is importable: ``Demo`` is what the browser test starts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.cookiejar import CookieJar
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "chat"
BIN = Path(sys.executable).parent


def listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: any free port) for daphne to serve with ``--fd``.

    The demo binds the port itself, as supervisord does for a pool of interface servers, so a port
    in use is an error here and now, and ``--check`` (port 0) can never lose its port to another
    process between choosing and binding it.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"cannot listen on 127.0.0.1:{port}: {exc.strerror} (choose another with PORT=…)") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Child:
    """One process of the demo, in its own session (a terminal's Ctrl-C reaches only the demo itself,
    which then stops its children by pid), writing to the demo's output or to ``<log_dir>/<name>.log``."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], log_dir: Path | None, pass_fds: tuple[int, ...] = ()
    ) -> None:
        self.name = name
        self.argv = argv
        self.pass_fds = pass_fds
        self.env = env
        self.log_dir = log_dir
        self.log_file: IO[bytes] | None = None
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path | None:
        return self.log_dir / f"{self.name}.log" if self.log_dir else None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> None:
        if self.log_path is not None:
            self.log_file = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv,
            cwd=PROJECT,
            env=self.env,
            start_new_session=True,
            pass_fds=self.pass_fds,
            stdout=self.log_file,
            stderr=subprocess.STDOUT if self.log_file else None,
        )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def terminate(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float = 20) -> int | None:
        """Wait for the exit (SIGKILL after ``timeout`` seconds); the exit status."""
        if self.popen is None:
            return None
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(5)
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
        return self.popen.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""


class Demo:
    """The example project's processes: prepare (migrate + a login), start, restart workers, stop."""

    def __init__(
        self,
        port: int,
        workers: int = 2,
        report_workers: int = 1,
        run_dir: str | None = None,
        log_dir: Path | None = None,
        venv: Path | None = None,
    ) -> None:
        self.listener = listen(port)
        self.port = port = int(self.listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{port}/"
        self.log_dir = log_dir
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "chatsite.settings"}
        if run_dir:
            self.env["CHAT_RUN_DIR"] = run_dir
        bin_dir = venv / "bin" if venv else BIN
        self.python = python = str(bin_dir / "python") if venv else sys.executable
        self.interface = Child(
            "daphne",
            [str(bin_dir / "daphne"), "chatsite.asgi:channel_layer", "--fd", str(self.listener.fileno())],
            self.env,
            log_dir,
            pass_fds=(self.listener.fileno(),),
        )
        self.workers = [
            Child(f"worker-{n}", [python, "manage.py", "runworker", "--exclude-channels=reports.*"], self.env, log_dir)
            for n in range(1, workers + 1)
        ]
        self.report_workers = [
            Child(f"reports-{n}", [python, "manage.py", "runworker", "--only-channels=reports.*"], self.env, log_dir)
            for n in range(1, report_workers + 1)
        ]
        self._generation = 1

    @property
    def children(self) -> list[Child]:
        return [self.interface, *self.workers, *self.report_workers]

    @property
    def layer(self) -> str:
        return "Redis at " + self.env["REDIS_URL"] if self.env.get("REDIS_URL") else "the embedded SQLite layer"

    def manage(self, *args: str) -> str:
        """Run ``manage.py ARGS`` to completion; its output (SystemExit with the output on failure)."""
        done = subprocess.run(
            [self.python, "manage.py", *args], cwd=PROJECT, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def prepare(self, username: str = "demo", password: str | None = None) -> str:
        """Migrate the database and create (or reset) a login; the ``login: NAME / PASSWORD`` line."""
        self.manage("migrate", "--noinput", "-v", "0")
        return self.manage("demo_login", username, *(["--password", password] if password else [])).strip()

    def start(self, timeout: float = 30) -> None:
        for child in self.children:
            child.start()
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.raise_if_died()
            try:
                with urllib.request.urlopen(self.url + "healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the demo did not answer on {self.url} within {timeout} s")
            time.sleep(0.2)

    def raise_if_died(self) -> None:
        for child in self.children:
            if child.popen is not None and not child.alive():
                raise SystemExit(f"{child.name} (pid {child.pid}) exited with {child.popen.returncode}")

    def restart_workers(self) -> None:
        """Stop every worker of both pools (SIGTERM: they finish what they hold), then start new ones.
        The interface server keeps running, and with it every open socket."""
        old = [*self.workers, *self.report_workers]
        for child in old:
            child.terminate()
        for child in old:
            child.wait()
        self._generation += 1
        for pool in (self.workers, self.report_workers):
            for index, child in enumerate(pool):
                fresh = Child(f"{child.name}-gen{self._generation}", child.argv, child.env, child.log_dir)
                fresh.start()
                pool[index] = fresh

    def stop(self) -> None:
        for child in self.children:
            child.terminate()
        for child in self.children:
            child.wait()
        self.listener.close()

    def logs(self) -> str:
        return "\n".join(f"----- {c.name} -----\n{c.log()[-6000:]}" for c in self.children)


# -- the self-check ----------------------------------------------------------------------------


class Browser:
    """An HTTP client with a cookie jar, enough to log in through Django's login form."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.cookies = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> tuple[str, str]:
        with self.opener.open(self.url + path.lstrip("/"), timeout=10) as response:
            return response.geturl(), response.read().decode()

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.cookies if c.name == name and c.value is not None)

    def login(self, username: str, password: str) -> None:
        self.get("login/")
        form = {"username": username, "password": password, "csrfmiddlewaretoken": self.cookie("csrftoken")}
        request = urllib.request.Request(self.url + "login/", data=urllib.parse.urlencode(form).encode())
        with self.opener.open(request, timeout=10) as response:
            assert not response.geturl().endswith("/login/"), f"login as {username} failed"

    def websocket(self, path: str) -> Any:
        import websocket  # websocket-client, installed by `make demo` / `make test`

        cookie = "; ".join(f"{c.name}={c.value}" for c in self.cookies)
        return websocket.create_connection(
            self.url.replace("http://", "ws://") + path.lstrip("/"), timeout=15, cookie=cookie
        )


def _next_json(ws: Any, predicate: Any) -> Any:
    """The next JSON frame on ``ws`` for which ``predicate`` holds (other frames are skipped)."""
    while True:
        data = json.loads(ws.recv())
        if predicate(data):
            return data


def _visits(page: str) -> int:
    found = re.search(r"visit (\d+) in this session", page)
    assert found is not None, f"no visit count on the page: {page[:300]}"
    return int(found.group(1))


def check(demo: Demo) -> str:
    """Drive the running demo like two people would; raise AssertionError on any misbehaviour."""
    import websocket

    demo.manage("demo_login", "alice", "--password", "alice-pw")
    demo.manage("demo_login", "bob", "--password", "bob-pw")
    anonymous = Browser(demo.url)
    assert anonymous.get("")[0].endswith("/login/?next=/"), "the chat page did not ask for a login"
    try:
        anonymous.websocket("chat/lobby/")
        raise AssertionError("an anonymous WebSocket was accepted")
    except websocket.WebSocketBadStatusException as error:
        assert error.status_code == 403, error

    alice, bob = Browser(demo.url), Browser(demo.url)
    alice.login("alice", "alice-pw")
    bob.login("bob", "bob-pw")
    url, page = alice.get("")
    assert url.endswith("/rooms/lobby/") and 'signed in as <b id="me">alice</b>' in page, page[:300]
    visits = [_visits(alice.get("rooms/lobby/")[1]) for _ in "12"]
    assert visits[1] == visits[0] + 1, f"the session did not survive across requests: visits {visits}"
    assert "/static/channels/js/websocketbridge.js" in page
    assert "WebSocketBridge" in alice.get("static/channels/js/websocketbridge.js")[1]

    chats = [alice.websocket("chat/lobby/"), bob.websocket("chat/lobby/")]
    _next_json(chats[1], lambda d: d.get("system") == "bob joined lobby")
    chats[0].send(json.dumps({"text": "hello from alice"}))
    for ws in chats:
        said = _next_json(ws, lambda d: "message" in d)
        assert said == {"user": "alice", "message": "hello from alice"}, said

    lives = [alice.websocket("live/lobby/"), bob.websocket("live/lobby/")]
    lives[1].send(json.dumps({"stream": "notes", "payload": {"action": "create", "data": {"text": "bring snacks"}}}))
    for ws in lives:
        note = _next_json(ws, lambda d: d.get("stream") == "notes")["payload"]
        assert note["action"] == "create" and note["data"]["text"] == "bring snacks", note
        assert note["data"]["author__username"] == "bob" and note["data"]["room"] == "lobby", note

    lives[0].send(json.dumps({"stream": "reports", "payload": {"room": "lobby"}}))
    queued = _next_json(lives[0], lambda d: d.get("stream") == "reports")["payload"]
    assert queued["status"] == "queued", queued
    done = _next_json(lives[0], lambda d: d.get("stream") == "reports")["payload"]
    assert done["status"] == "done" and done["report"] == queued["report"], done
    assert done["summary"] == "Room lobby: 1 messages, 1 notes.", done
    assert done["rendered_by"] in {c.pid for c in demo.report_workers}, (
        "the report was not rendered by the reports pool"
    )
    assert "alice: 1 messages" in alice.get(done["url"])[1]

    # The binding's has_permission: alice may not delete bob's note; bob may. (The live socket has
    # strict_ordering, so alice's two frames are handled in the order she sent them.)
    bobs_note = note["pk"]
    lives[0].send(json.dumps({"stream": "notes", "payload": {"action": "delete", "pk": bobs_note}}))
    lives[0].send(json.dumps({"stream": "notes", "payload": {"action": "create", "data": {"text": "by alice"}}}))
    after = _next_json(lives[1], lambda d: d.get("stream") == "notes")["payload"]
    assert after["action"] == "create" and after["data"]["text"] == "by alice", f"alice deleted bob's note: {after}"
    lives[1].send(json.dumps({"stream": "notes", "payload": {"action": "delete", "pk": bobs_note}}))
    deleted = _next_json(lives[0], lambda d: d.get("stream") == "notes" and d["payload"]["action"] != "create")[
        "payload"
    ]
    assert deleted["action"] == "delete" and deleted["pk"] == bobs_note, deleted
    # A frame the chat does not understand is ignored; the socket stays usable.
    chats[1].send("not json")
    chats[1].send(json.dumps({"text": "still here"}))
    assert _next_json(chats[0], lambda d: "message" in d) == {"user": "bob", "message": "still here"}
    try:
        anonymous.websocket("live/lobby/")
        raise AssertionError("an anonymous live socket was accepted")
    except websocket.WebSocketBadStatusException as error:
        assert error.status_code == 403, error
    for ws in chats + lives:
        ws.close()

    pids: set[int] = set()
    deadline = time.monotonic() + 20
    while len(pids) < len(demo.workers) and time.monotonic() < deadline:
        _, body = alice.get("healthz")
        pids.add(json.loads(body)["worker_pid"])
    assert pids == {c.pid for c in demo.workers}, f"expected every main worker to serve requests, saw pids {pids}"
    return (
        f"demo check passed: login + session, WebSocket chat, live list, background report, "
        f"{len(demo.workers)} workers + {len(demo.report_workers)} reports worker"
    )


def _take_terminal() -> Callable[[], None]:
    """Become the terminal's foreground process group when started in it (e.g. by ``make demo``).

    Ctrl-C then reaches only the demo, which stops its children and exits 0, and make, which would
    otherwise get the SIGINT too and die of it (status 130), sees that clean exit. Returns the undo,
    which gives the terminal back. Anywhere else (no terminal, a session leader) it does nothing.
    """
    try:
        fd = sys.stdin.fileno()
        if not os.isatty(fd) or os.tcgetpgrp(fd) != os.getpgrp():
            return lambda: None
        previous = os.getpgrp()
        os.setpgid(0, 0)
    except (OSError, ValueError):
        return lambda: None

    def hand_to(group: int) -> None:
        # A process outside the foreground group gets SIGTTOU for tcsetpgrp unless it ignores it.
        handler = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        try:
            os.tcsetpgrp(fd, group)
        except OSError:
            pass
        finally:
            signal.signal(signal.SIGTTOU, handler)

    hand_to(os.getpgrp())
    return lambda: hand_to(previous)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2, help="processes in the main worker pool (default 2)")
    parser.add_argument("--report-workers", type=int, default=1, help="processes in the reports pool (default 1)")
    parser.add_argument("--username", default="demo", help="the demo login's name (default demo)")
    parser.add_argument("--password", default=None, help="the demo login's password (default: random)")
    parser.add_argument(
        "--log-dir",
        type=Path,
        default=None,
        help="write each process's output to DIR/NAME.log instead of this terminal",
    )
    parser.add_argument(
        "--venv",
        type=Path,
        default=None,
        help="run the processes from this virtualenv's bin/ (e.g. one with Channels 1.1.8 and "
        "Daphne 1.4.2, with REDIS_URL) instead of this Python's",
    )
    parser.add_argument("--check", action="store_true", help="start on a free port, self-test, stop, exit 0")
    args = parser.parse_args()
    run_dir = tempfile.mkdtemp(prefix="chat-demo-") if args.check else None
    log_dir = args.log_dir or (Path(run_dir) if run_dir else None)
    if log_dir:
        log_dir.mkdir(parents=True, exist_ok=True)
    demo = Demo(0 if args.check else args.port, args.workers, args.report_workers, run_dir, log_dir, args.venv)

    # Ctrl-C and SIGTERM both mean "stop everything cleanly": the children are stopped by pid below.
    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    give_back_terminal = (lambda: None) if args.check else _take_terminal()
    try:
        login = demo.prepare(args.username, args.password)
        demo.start()
        if args.check:
            try:
                print(check(demo), flush=True)
            except BaseException:
                print(demo.logs(), file=sys.stderr)
                raise
            return 0
        print(
            f"\nChat demo on {demo.url} (1 interface server + {len(demo.workers)} workers + "
            f"{len(demo.report_workers)} reports worker on {demo.layer}).\n"
            f"Log in with {login.split(': ', 1)[1]}. Ctrl-C stops it.\n"
            f"processes: {', '.join(f'{c.name} {c.pid}' for c in demo.children)}\n",
            flush=True,
        )
        while True:
            demo.raise_if_died()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping the demo…", flush=True)
        return 0
    except SystemExit as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abandon the children
        demo.stop()
        give_back_terminal()


if __name__ == "__main__":
    sys.exit(main())
