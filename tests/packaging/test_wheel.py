"""A built wheel installed into a fresh virtualenv is a working channels-classic: static file, CLIs, the demo.

One module-scoped fixture builds the wheel from a copy of the sources (so stale ``build/`` files of
the checkout cannot leak in), creates a virtualenv without system site-packages, and installs the
wheel with its dependencies (from the package index / pip's cache). Every command then runs with
that virtualenv's interpreter from a copy of ``examples/`` outside the checkout, so nothing is
imported from the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    "setup.py",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "channellayer",
    "interfaceserver",
    "worker",
    "channels",
]
BRIDGE = "channels/static/channels/js/websocketbridge.js"

pytestmark = pytest.mark.slow


class Install:
    """The wheel and the virtualenv it is installed in."""

    def __init__(self, wheel: Path, venv: Path, examples: Path, build_log: str) -> None:
        self.wheel = wheel
        self.venv = venv
        self.python = venv / "bin" / "python"
        self.examples = examples
        self.build_log = build_log

    def run(self, *argv: str | Path, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV", "PYTHONHOME")
        }
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(
            [str(a) for a in argv], cwd=cwd or self.examples, env=env, capture_output=True, text=True, timeout=timeout
        )


def _check(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"{done.args} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    dist = base / "dist"
    built = _check(
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(dist), str(src)],
            capture_output=True,
            text=True,
            timeout=180,
        )
    )
    wheel = next(dist.glob("channels_classic-*.whl"))
    venv = base / "venv"
    _check(
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True, timeout=60
        )
    )
    # The test interpreter's pip installs into the new environment (no pip bootstrap in it);
    # websocket-client is the demo self-check's WebSocket client, not a dependency of the package.
    _check(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(venv / "bin" / "python"),
                "install",
                "-q",
                str(wheel),
                "websocket-client",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    )
    examples = base / "examples"
    shutil.copytree(ROOT / "examples", examples, ignore=shutil.ignore_patterns("__pycache__", ".run", "*.sqlite3*"))
    return Install(wheel, venv, examples, built.stdout + built.stderr)


def test_wheel_contents_and_clean_build(install: Install) -> None:
    """The wheel holds the bridge, the Lua scripts, py.typed and LICENSE; setuptools warned about nothing."""
    names = set(zipfile.ZipFile(install.wheel).namelist())
    assert BRIDGE in names
    assert {
        "channellayer/lua/send.lua",
        "channellayer/py.typed",
        "worker/py.typed",
        "interfaceserver/py.typed",
    } <= names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names), sorted(names)
    assert not [name for name in names if name.startswith(("tests/", "examples/", "worker/static/"))]
    for warning in ("Package would be ignored", "is absent from setuptools", "SetuptoolsDeprecationWarning"):
        assert warning not in install.build_log, install.build_log[-5000:]


def test_installed_packages_come_from_the_virtualenv(install: Install) -> None:
    """channels, worker, channellayer and interfaceserver import from the virtualenv, not the checkout."""
    done = _check(
        install.run(
            install.python,
            "-c",
            "import channels, worker, channellayer, interfaceserver as i; "
            "print('\\n'.join(m.__file__ for m in "
            "(channels, worker, channellayer, i)))",
        )
    )
    site = str(install.venv)
    assert all(line.startswith(site) for line in done.stdout.split()), done.stdout


def test_findstatic_finds_the_bridge(install: Install) -> None:
    """`manage.py findstatic channels/js/websocketbridge.js` finds the file inside the installed package."""
    done = _check(
        install.run(
            install.python, "manage.py", "findstatic", "channels/js/websocketbridge.js", cwd=install.examples / "chat"
        )
    )
    assert f"{BRIDGE}" in done.stdout and str(install.venv) in done.stdout, done.stdout


def test_console_scripts_and_runworker_help(install: Install) -> None:
    """`daphne --help` and `manage.py runworker --help` work from the install."""
    daphne = _check(install.run(install.venv / "bin" / "daphne", "--help"))
    assert (
        "Usage: daphne [OPTIONS] [CHANNEL_LAYER]" in daphne.stdout and "--websocket_connect_timeout" in daphne.stdout
    ), daphne.stdout
    runworker = _check(install.run(install.python, "manage.py", "runworker", "--help", cwd=install.examples / "chat"))
    assert "--only-channels" in runworker.stdout and "--threads" in runworker.stdout, runworker.stdout


def test_demo_self_check_from_the_install(install: Install) -> None:
    """examples/demo.py --check (daphne + 3 runworker processes of the installed package) passes."""
    done = _check(install.run(install.python, install.examples / "demo.py", "--check", timeout=120))
    assert "demo check passed" in done.stdout, done.stdout[-3000:]
