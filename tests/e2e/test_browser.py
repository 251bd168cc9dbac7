"""The example project in a real browser: Debian's headless Chromium driven by Playwright.

Two people (two browser contexts, so two cookie jars) log in, join a room, chat, see each other's
notes arrive in the live list (``WebsocketBinding``) and a report rendered by the ``reports.*`` pool;
then every worker of both pools is restarted while the interface server and the pages stay up, and
the same sockets carry on. Screenshots go to ``$SCREENSHOT_DIR`` (docs/images/ for the tutorial's
pictures: ``SCREENSHOT_DIR=docs/images pytest tests/e2e/test_browser.py``), else to a temp dir.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The flags a CI container needs: no sandbox (root), no GPU, and nothing that phones home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' installs playwright")
if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (make test installs it)", allow_module_level=True)

pytestmark = pytest.mark.slow


def _load_demo() -> Any:
    spec = importlib.util.spec_from_file_location("chat_demo", ROOT / "examples" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["chat_demo"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Any]:
    """The example's four processes (daphne, 2 main workers, 1 reports worker) on a fresh SQLite layer."""
    chat_demo = _load_demo()

    logs = tmp_path / "logs"
    logs.mkdir()
    # Demo binds a free port itself (port 0) and hands it to daphne with --fd: no port race.
    # It sets DJANGO_SETTINGS_MODULE=chatsite.settings for its processes, whatever the tests use.
    running = chat_demo.Demo(0, workers=2, report_workers=1, run_dir=str(tmp_path / "run"), log_dir=logs)
    running.prepare("alice", "alice-pw")
    running.manage("demo_login", "bob", "--password", "bob-pw")
    try:
        running.start()
    except BaseException:
        running.stop()
        raise
    try:
        yield running
    finally:
        running.stop()


class Person:
    """One browser context (its own cookies) with one page, and what its page logged."""

    def __init__(self, browser: Any, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.context = browser.new_context(viewport={"width": 1100, "height": 640})
        self.context.set_default_timeout(WAIT_MS)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        self.page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def log_in(self, password: str, shots: Path | None = None) -> None:
        self.page.goto(self.url)
        self.page.wait_for_url("**/login/?next=/")
        self.page.fill("#username", self.name)
        self.page.fill("#password", password)
        if shots is not None:
            self.page.screenshot(path=str(shots / "tutorial-login.png"))
        self.page.click("#login")
        self.page.wait_for_url("**/rooms/lobby/")
        self.expect_text("#me", self.name)

    def join(self, room: str) -> None:
        self.page.fill("#room-name", room)
        self.page.click("#join")
        self.page.wait_for_url(f"**/rooms/{room}/")
        self.expect_text("#sockets", "chat opened 1×")
        self.expect_text("#sockets", "live opened 1×")

    def say(self, text: str) -> None:
        self.page.fill("#text", text)
        self.page.click("#send")

    def add_note(self, text: str) -> None:
        self.page.fill("#note-text", text)
        self.page.click("#add")

    def expect_text(self, selector: str, text: str) -> None:
        """Wait until ``selector``'s text contains ``text``."""
        playwright_api.expect(self.page.locator(selector)).to_contain_text(text, timeout=WAIT_MS)

    def stats(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = self.page.evaluate("window.chatStats")
        return result


def test_two_people_chat_share_a_live_list_get_a_report_and_keep_their_sockets_through_a_worker_restart(
    demo: Any, tmp_path: Path
) -> None:
    """Login, room chat, binding update, background report; after every worker restarts, same sockets work."""
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    people: list[Person] = []
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            alice, bob = Person(browser, "alice", demo.url), Person(browser, "bob", demo.url)
            people += [alice, bob]
            alice.log_in("alice-pw", shots)
            bob.log_in("bob-pw")
            alice.join("garden")
            bob.join("garden")
            alice.expect_text("#log", "* bob joined garden")

            alice.say("hello bob")
            bob.expect_text("#log", "alice: hello bob")
            bob.say("hi alice, shall we plant tomatoes?")
            alice.expect_text("#log", "bob: hi alice, shall we plant tomatoes?")

            bob.add_note("buy tomato seedlings")
            alice.expect_text("#notes", "buy tomato seedlings — bob")
            alice.add_note("water on Sunday")
            bob.expect_text("#notes", "water on Sunday — alice")

            report_pid = demo.report_workers[0].pid
            alice.page.click("#report")
            alice.expect_text("#reports", f"done by worker {report_pid} · Room garden: 2 messages, 2 notes.")
            alice.page.screenshot(path=str(shots / "tutorial-room-alice.png"))
            bob.page.screenshot(path=str(shots / "tutorial-room-bob.png"))
            before = {p.name: p.stats() for p in people}

            old_pids = {c.pid for c in demo.workers + demo.report_workers}
            demo.restart_workers()
            demo.wait_healthy()
            assert old_pids.isdisjoint(c.pid for c in demo.workers + demo.report_workers)
            assert demo.interface.alive()

            alice.say("still here after the restart")
            bob.expect_text("#log", "alice: still here after the restart")
            bob.add_note("restarted workers, same sockets")
            alice.expect_text("#notes", "restarted workers, same sockets — bob")
            new_report_pid = demo.report_workers[0].pid
            alice.page.click("#report")
            alice.expect_text("#reports", f"done by worker {new_report_pid} · Room garden: 3 messages, 3 notes.")
            alice.page.screenshot(path=str(shots / "tutorial-after-restart.png"))

            for person in people:
                after = person.stats()
                # Each socket opened exactly once: no reconnection hid a dropped socket...
                assert after["opens"] == {"chat": 1, "live": 1}, (person.name, after)
                # ...and that same socket carried frames after the restart.
                assert after["frames"]["chat"] > before[person.name]["frames"]["chat"], (person.name, before, after)
                assert after["frames"]["live"] > before[person.name]["frames"]["live"], (person.name, before, after)
            errors = [line for p in people for line in p.console if line.startswith(("error", "pageerror"))]
            assert errors == [], errors
        except BaseException:
            for person in people:
                print(f"----- console of {person.name}'s page -----\n" + "\n".join(person.console), file=sys.stderr)
            print(demo.logs(), file=sys.stderr)
            raise
        finally:
            browser.close()
