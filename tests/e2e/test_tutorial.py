"""docs/tutorial.md works as written: its commands, run in order in a fresh directory, build and run the chat.

The markdown is turned into one bash script: ```` ```sh ```` blocks are its commands; a block whose first
line is ``# file: PATH`` (``<!-- file: PATH -->`` in HTML) writes PATH, ``# append: PATH`` appends to it,
relative to the directory the commands are in at that point; a ```` ```text ```` block right after a
``sh`` block is output that must appear, in order. Port 8000 becomes a free port (the machine is shared).
``console`` blocks are interactive sessions run by the test named in INTERACTIVE.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.processes import ADDRESS_IN_USE, free_port, retry_on_lost_port

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARKER = re.compile(r"^(?:#|<!--) (file|append): (\S+?)(?: -->)?$")
# Interactive commands the tutorial shows and the test that runs each of them.
INTERACTIVE = {"make demo": ("tests/e2e/test_demo.py", "test_make_demo_ctrl_c_stops_everything_and_exits_0")}

pytestmark = pytest.mark.slow


@dataclass
class Block:
    lang: str
    body: str


def blocks(markdown: str) -> list[Block]:
    return [Block(match.group(1), match.group(2)) for match in FENCE.finditer(markdown)]


def to_script(parts: list[Block]) -> tuple[str, list[str]]:
    """The bash script for the tutorial's blocks, and the output lines it must print, in order."""
    lines: list[str] = []
    expected: list[str] = []
    previous = ""
    for number, block in enumerate(parts):
        first, _, rest = block.body.partition("\n")
        marker = MARKER.match(first)
        if marker:
            kind, path = marker.groups()
            delimiter = f"TUTORIAL_BLOCK_{number}"
            assert delimiter not in rest
            lines.append(f'mkdir -p "$(dirname {path})"')
            lines.append(f"cat {'>' if kind == 'file' else '>>'} {path} <<'{delimiter}'\n{rest}{delimiter}")
        elif block.lang == "sh":
            lines.append(block.body)
        elif block.lang == "text" and previous == "sh":
            expected += [line for line in block.body.splitlines() if line.strip()]
        elif block.lang == "console":
            commands = [line[2:] for line in block.body.splitlines() if line.startswith("$ ")]
            assert commands and all(c in INTERACTIVE for c in commands), f"no test runs {commands}"
        previous = block.lang
    return "\n".join(lines) + "\n", expected


def test_the_interactive_commands_are_run_by_their_tests() -> None:
    """Each console-block command of the tutorial names a test that exists and runs it."""
    shown = {
        line[2:]
        for b in blocks(TUTORIAL.read_text())
        if b.lang == "console"
        for line in b.body.splitlines()
        if line.startswith("$ ")
    }
    assert shown == set(INTERACTIVE)
    for command, (path, name) in INTERACTIVE.items():
        source = (ROOT / path).read_text()
        assert f"def {name}(" in source and f'"{command.split()[1]}"' in source, (command, path, name)


def _copy_checkout(target: Path) -> None:
    """The checkout's files as a clone would hold them: tracked or new, not ignored (no venv, no caches)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in listed.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_tutorial_commands_build_and_run_the_chat(tmp_path: Path) -> None:
    """Install, startproject, the files, migrate, daphne + 2 runworkers, the chat client: the shown output."""
    script, expected = to_script(blocks(TUTORIAL.read_text()))
    assert "daphne mysite.asgi:channel_layer" in script and "runworker" in script and len(expected) >= 5
    # Without PYTHONUNBUFFERED a command's output reaches the pipe in one write at exit, so the
    # access-log lines of the background daphne cannot land inside one of its lines.
    unwanted = {"VIRTUAL_ENV", "PYTHONPATH", "DJANGO_SETTINGS_MODULE", "PYTHONHOME", "PYTHONUNBUFFERED"}
    env = {k: v for k, v in os.environ.items() if k not in unwanted and not k.startswith("PYTEST")}
    # The tutorial's python3 is the one the tests run on (the venv's base interpreter).
    base = Path(getattr(sys, "_base_executable", sys.executable)).parent
    env.update({"PATH": f"{base}:{env.get('PATH', '')}", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})

    def attempt() -> subprocess.CompletedProcess[str]:
        """The tutorial's commands in a fresh directory, with 8000 swapped for a free port."""
        work = Path(tempfile.mkdtemp(prefix="tutorial-", dir=tmp_path))
        _copy_checkout(work / "channels-classic")
        # Background processes the tutorial starts are stopped by pid whatever happens.
        prelude = "set -e\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n"
        (work / "tutorial.sh").write_text(prelude + script.replace("8000", str(free_port())))
        return subprocess.run(
            ["bash", str(work / "tutorial.sh")], cwd=work, env=env, capture_output=True, text=True, timeout=240
        )

    # The tutorial's daphne binds the port itself: taken by another process first, it says so, and the run is redone.
    done = retry_on_lost_port(attempt, lambda run: run.returncode != 0 and ADDRESS_IN_USE in run.stdout + run.stderr)
    report = f"exit {done.returncode}\n--- stdout ---\n{done.stdout[-6000:]}\n--- stderr ---\n{done.stderr[-8000:]}"
    assert done.returncode == 0, report
    position = 0
    for line in expected:
        found = done.stdout.find(line, position)
        assert found >= 0, f"missing (in order): {line!r}\n{report}"
        position = found + len(line)


def test_the_pictures_the_tutorial_and_index_show_exist() -> None:
    """Every image docs/tutorial.md and docs/index.md reference is a PNG in docs/images/."""
    for page in (TUTORIAL, ROOT / "docs" / "index.md"):
        pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text())
        assert pictures, page
        for picture in pictures:
            path = page.parent / picture
            assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", (page.name, picture)
