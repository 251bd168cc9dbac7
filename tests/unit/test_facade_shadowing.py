"""A project module named like one of our packages is reported by file name; other import errors propagate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _python(cwd: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as ``python -c`` in ``cwd`` (first on sys.path, as a project beside manage.py is)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("name", "as_package"), [("worker", False), ("channellayer", True), ("interfaceserver", False)]
)
def test_project_module_shadowing_our_package(tmp_path, name, as_package):
    """`import channels` beside a project's worker.py (or channellayer/ …) is an ImportError naming both."""
    if as_package:
        (tmp_path / name).mkdir()
        shadow = tmp_path / name / "__init__.py"
    else:
        shadow = tmp_path / f"{name}.py"
    shadow.write_text("THINGS = 1\n")
    done = _python(tmp_path, "from channels import Group")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"ImportError: {shadow} shadows channels-classic's {name!r} package (installed at "
        f"{ROOT / name}): rename that module or take its folder off sys.path"
    ), done.stderr


def test_no_shadow_imports_normally(tmp_path):
    """Beside unrelated project modules, the facade imports and Group is ours."""
    (tmp_path / "workers.py").write_text("")
    done = _python(tmp_path, "from channels import Group; print(Group.__module__)")
    assert (done.returncode, done.stdout.strip()) == (0, "worker.channel"), done.stderr


def test_other_import_errors_are_not_swallowed(tmp_path):
    """A missing dependency other than Django (here msgpack) surfaces from `import channels` as itself."""
    done = _python(tmp_path, "import sys; sys.modules['msgpack'] = None; import channels")
    assert done.returncode == 1
    assert "ModuleNotFoundError: import of msgpack halted; None in sys.modules" in done.stderr, done.stderr


def test_version_readable_without_django(tmp_path):
    """Without Django, channels.__version__ is still readable (as in 1.1.8) and Group is absent."""
    done = _python(
        tmp_path,
        "import sys; sys.modules['django'] = None; import channels; "
        "print(channels.__version__, hasattr(channels, 'Group'))",
    )
    assert (done.returncode, done.stdout.strip()) == (0, "1.1.8 False"), done.stderr
