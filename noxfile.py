"""The Python x Django test matrix (``nox``; ``make test`` runs it after the whole suite).

Every supported cell runs the fast part of the suite (``FAST_PART``: unit tests, the process-level
HTTP/WebSocket/runworker integration tests and Channels 1.1.8's own suite) in its own virtualenv
under ``~/.cache/channels-classic/nox`` (``NOX_ENVDIR``), reused between runs and reinstalled only
when ``setup.py``, the cell's Django or the checkout's path changes. Interpreters come from
``~/.pyenv/versions/`` (this machine and CI), else from ``PATH``.

The Django-free part of it (``DJANGO_FREE``: the channel layer's and the interface server's tests) runs
once per Python, in its first cell, and not at all for the Python of the default cell: Django cannot
change its outcome, and the matrix stays within CI's budget.

``NOX_DEFAULT_CELL=3.11-5.2`` leaves out the cell the caller already tested with the whole suite.
``python noxfile.py cell`` prints the running interpreter's cell.
``python noxfile.py summary REPORT.json [DEFAULT_CELL DEFAULT_RESULT DEFAULT_SECONDS]`` prints one line per cell
(nox's ``--report`` file as input) and exits non-zero unless every supported cell passed: a cell
whose interpreter is missing is MISSING, never passed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DJANGOS = ["4.2", "5.2", "6.0", "6.1"]
# Django 6.x declares python_requires >= 3.12: pip cannot install it on 3.10/3.11.
DJANGO_MIN_PYTHON = {"6.0": (3, 12), "6.1": (3, 12)}
# The fast part, chosen to fit CI's budget (11 cells): every unit test (~25 s), the integration tests
# that run the real interface server over Redis (HTTP ~13 s, WebSocket ~9 s), the runworker process
# tests that are not timing waits (~12 s of the file's ~36 s), and 1.1.8's suite (~10 s). Measured on
# one cell with everything in tests/unit and tests/integration: ~400 s, too much to repeat 11 times.
_RUNWORKER = "tests/integration/test_worker_runworker.py::"
FAST_PART = [
    "tests/unit",
    "tests/integration/test_is_http.py",
    "tests/integration/test_is_websocket.py",
    _RUNWORKER + "test_refuses_in_memory_layer",
    _RUNWORKER + "test_max_messages_exits_zero_after_that_many",
    _RUNWORKER + "test_sigterm_with_threads_finishes_in_flight_and_flushes",
    _RUNWORKER + "test_channel_full_on_buffered_send_drops_with_one_line_and_delivers_rest",
    _RUNWORKER + "test_layer_option_serves_that_alias",
    _RUNWORKER + "test_unknown_layer_alias_is_a_command_error",
    _RUNWORKER + "test_debug_with_staticfiles_serves_static_url",
    "tests/compat/test_peer_suite.py",
]
# The parts of FAST_PART that import neither Django nor worker/channels (the channel layer and the interface
# server): what they test does not change with Django, so they run once per Python, in that Python's first
# cell (none for the default cell's Python: the whole suite ran them there). tests/unit/test_matrix_summary.py
# checks that none of them imports Django.
DJANGO_FREE = [
    "tests/integration/test_is_http.py",
    "tests/integration/test_is_websocket.py",
    *(
        f"tests/unit/{name}.py"
        for name in (
            "test_bench_report",
            "test_is_body_budget",
            "test_is_cli",
            "test_is_connect_timeout_warning",
            "test_is_connection",
            "test_is_deadline_sweep",
            "test_is_embedded",
            "test_is_frames",
            "test_is_http11",
            "test_is_layerio",
            "test_is_layerio_faults",
            "test_is_lifecycle",
            "test_is_messages",
            "test_is_metrics",
            "test_is_response_framing",
            "test_is_responses",
            "test_is_seam",
            "test_is_twisted_compat",
            "test_layer_units",
            "test_matrix_summary",
            "test_portal",
            "test_redis_keyspace",
            "test_sqlite_layer_rules",
            "test_wsgi_adapter",
        )
    ),
]
ROOT = Path(__file__).resolve().parent


def runs_django_free(python: str, django: str, default_cell: str | None) -> bool:
    """Whether cell ``python``-``django`` also runs DJANGO_FREE: the first Django of each Python, except
    for the default cell's Python (its whole suite ran them)."""
    if default_cell is not None and default_cell.split("-")[0] == python:
        return False
    return django == min((d for p, d in cells() if p == python), key=lambda d: tuple(map(int, d.split("."))))


def cell_tests(python: str, django: str, default_cell: str | None) -> list[str]:
    """The pytest arguments of a cell: FAST_PART, without DJANGO_FREE unless this cell runs it."""
    if runs_django_free(python, django, default_cell):
        return list(FAST_PART)
    return [arg for arg in FAST_PART if arg not in DJANGO_FREE] + [
        f"--ignore={path}" for path in DJANGO_FREE if path.startswith("tests/unit/")
    ]


def supported(python: str, django: str) -> bool:
    """Whether Django ``django`` installs on Python ``python`` at all."""
    return tuple(int(p) for p in python.split(".")) >= DJANGO_MIN_PYTHON.get(django, (0, 0))


def cell_name(python: str, django: str) -> str:
    return f"{python}-{django}"


def session_name(python: str, django: str) -> str:
    return f"cell-{cell_name(python, django)}"


def find_interpreter(python: str) -> str | None:
    """The newest ``~/.pyenv/versions/X.Y.*``, else a real ``pythonX.Y`` on PATH; None when absent.

    pyenv's shims are skipped: a shim exists for every installed version but fails unless that
    version is selected."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(
        pyenv.glob(f"{python}.*/bin/python{python}"),
        key=lambda p: tuple(int(x) for x in p.parts[-3].split(".") if x.isdigit()),
    )
    if candidates:
        return str(candidates[-1])
    path = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep) if "shims" not in Path(d).parts)
    return shutil.which(f"python{python}", path=path)


def cells() -> list[tuple[str, str]]:
    return [(p, d) for p in PYTHONS for d in DJANGOS if supported(p, d)]


def summary(
    report_path: str, default_cell: str | None = None, default_result: str | None = None, default_seconds: str = ""
) -> int:
    """Print the matrix table; return 0 only if every supported cell passed."""
    results: dict[str, tuple[str, float]] = {}
    if os.path.exists(report_path):
        with open(report_path, encoding="utf8") as f:
            for entry in json.load(f).get("sessions", []):
                results[entry["name"]] = (entry["result"], float(entry.get("duration") or 0))
    rows = []
    ok = True
    for python in PYTHONS:
        for django in DJANGOS:
            name = cell_name(python, django)
            if not supported(python, django):
                rows.append(
                    (name, "n/a", "", "Django {} needs Python >= {}.{}".format(django, *DJANGO_MIN_PYTHON[django]))
                )
                continue
            if name == default_cell:
                status = "passed" if default_result == "0" else "FAILED"
                rows.append((name, status, default_seconds, "whole suite (default interpreter)"))
                ok = ok and status == "passed"
                continue
            if find_interpreter(python) is None:
                rows.append((name, "MISSING", "", f"no python{python} on PATH or in ~/.pyenv/versions"))
                ok = False
                continue
            result, seconds = results.get(session_name(python, django), ("", 0.0))
            if result == "success":
                part = "" if runs_django_free(python, django, default_cell) else ", Django-dependent tests"
                rows.append((name, "passed", f"{seconds:.0f}", f"fast part (noxfile.FAST_PART{part})"))
            else:
                rows.append(
                    (
                        name,
                        "FAILED" if result else "NOT RUN",
                        f"{seconds:.0f}" if result else "",
                        f"nox result: {result or 'none'}",
                    )
                )
                ok = False
    print("\nPython x Django matrix")
    print(f"{'cell':<10} {'result':<8} {'seconds':>7}  detail")
    for name, status, seconds, detail in rows:
        print(f"{name:<10} {status:<8} {seconds:>7}  {detail}")
    print("matrix: " + ("every supported cell passed" if ok else "NOT every supported cell passed"))
    return 0 if ok else 1


def current_cell() -> str:
    """The cell of the running interpreter and its Django, e.g. ``3.11-5.2``."""
    import django

    return cell_name("{}.{}".format(*sys.version_info[:2]), "{}.{}".format(*django.VERSION[:2]))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "summary":
        sys.exit(summary(*sys.argv[2:6]))
    if sys.argv[1:] == ["cell"]:
        print(current_cell())
        sys.exit(0)
    sys.exit("usage: python noxfile.py summary REPORT.json [DEFAULT_CELL DEFAULT_RESULT DEFAULT_SECONDS] | cell")

import nox  # noqa: E402  (the summary above runs without nox installed)

nox.options.reuse_venv = "yes"
# Outside the checkout, so CI's fresh clone reuses the cells' virtualenvs of earlier runs on this machine.
nox.options.envdir = os.environ.get("NOX_ENVDIR", str(Path.home() / ".cache" / "channels-classic" / "nox"))
nox.options.error_on_missing_interpreters = True
# A missing interpreter is a MISSING cell, not something to fetch from outside PyPI.
nox.options.download_python = "never"
_default = os.environ.get("NOX_DEFAULT_CELL")
nox.options.sessions = [session_name(p, d) for p, d in cells() if cell_name(p, d) != _default]


def _venv_extras() -> str:
    """The extras the Makefile installs into .venv, so every cell has the same dependencies."""
    match = re.search(r"pip install -q -e '\.\[([\w,-]+)\]'", (ROOT / "Makefile").read_text(encoding="utf8"))
    return match.group(1) if match else "test,encryption,hiredis,http2"


def _install(session: nox.Session, django: str) -> None:
    """Install the project (editable) with the cell's Django, unless this venv already has exactly that."""
    spec = [f".[{_venv_extras()}]", f"Django~={django}.0", "six"]
    # The editable install points at one checkout: a venv made for another (CI's clone) is reinstalled.
    stamp_text = hashlib.sha256((ROOT / "setup.py").read_bytes() + " ".join([str(ROOT), *spec]).encode()).hexdigest()
    stamp = Path(session.virtualenv.location) / ".cell-installed"
    if stamp.exists() and stamp.read_text() == stamp_text:
        return
    # six: the 1.1.8 suite's shims import it.
    session.install("-q", "-e", *spec)
    stamp.write_text(stamp_text)


def _make_cell(python: str, django: str) -> None:
    interpreter = find_interpreter(python) or python

    def cell(session: nox.Session) -> None:
        _install(session, django)
        tests = session.posargs or cell_tests(python, django, _default)
        session.run("python", "-m", "pytest", "-p", "no:cacheprovider", "-q", *tests)

    cell.__doc__ = f"Python {python}, Django {django}: the fast part of the suite."
    nox.session(name=session_name(python, django), python=interpreter)(cell)


for _python, _django in cells():
    _make_cell(_python, _django)
