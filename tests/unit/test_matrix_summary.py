"""The matrix table that ends ``make test`` (``noxfile.summary``): only a cell that really ran and passed
reads "passed"; a missing interpreter reads MISSING and fails the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import noxfile  # the repo root is on sys.path, as for ``tests.*``


def report(tmp_path: Path, results: dict[str, str]) -> str:
    path = tmp_path / "report.json"
    sessions = [
        {"name": noxfile.session_name(*cell.split("-")), "result": result, "duration": 12.3}
        for cell, result in results.items()
    ]
    path.write_text(json.dumps({"result": 0, "sessions": sessions}))
    return str(path)


def every_other_cell(result: str = "success") -> dict[str, str]:
    return {noxfile.cell_name(p, d): result for p, d in noxfile.cells() if (p, d) != ("3.11", "5.2")}


def rows(output: str) -> dict[str, str]:
    return {
        line.split()[0]: line.split()[1] for line in output.splitlines() if line[:4] in ("3.10", "3.11", "3.12", "3.13")
    }


def test_every_supported_cell_passed_is_exit_0(tmp_path, capsys, monkeypatch):
    """All cells successful in nox's report and the default cell's suite passed: 0, and n/a cells listed as n/a."""
    monkeypatch.setattr(noxfile, "find_interpreter", lambda python: f"/usr/bin/python{python}")
    assert noxfile.summary(report(tmp_path, every_other_cell()), "3.11-5.2", "0", "600") == 0
    table = rows(capsys.readouterr().out)
    assert table["3.11-5.2"] == "passed" and table["3.10-6.0"] == "n/a" and table["3.13-6.1"] == "passed"
    assert len(table) == 16 and list(table.values()).count("n/a") == 4


def test_a_missing_interpreter_is_missing_and_fails(tmp_path, capsys, monkeypatch):
    """Without python3.12 its four cells read MISSING (even if a report says success) and the exit is 1."""
    monkeypatch.setattr(noxfile, "find_interpreter", lambda python: None if python == "3.12" else "/x")
    assert noxfile.summary(report(tmp_path, every_other_cell()), "3.11-5.2", "0") == 1
    out = capsys.readouterr().out
    table = rows(out)
    assert [cell for cell, status in table.items() if status == "MISSING"] == [
        "3.12-4.2",
        "3.12-5.2",
        "3.12-6.0",
        "3.12-6.1",
    ]
    assert "NOT every supported cell passed" in out


@pytest.mark.parametrize(
    "cells, default_result, expected",
    [
        ({"3.10-4.2": "failed"}, "0", "FAILED"),  # a failed cell
        ({}, "0", "NOT"),  # a cell absent from nox's report: "NOT RUN"
        ({}, "1", "FAILED"),  # the whole suite on the default cell failed
    ],
)
def test_failed_or_absent_cells_fail_the_run(tmp_path, capsys, monkeypatch, cells, default_result, expected):
    """A failed cell, a cell nox never ran, or a failed whole suite: exit 1 and the cell says so."""
    monkeypatch.setattr(noxfile, "find_interpreter", lambda python: "/x")
    results = every_other_cell()
    for cell in ("3.10-4.2",):
        results.pop(cell)
    results.update(cells)
    assert noxfile.summary(report(tmp_path, results), "3.11-5.2", default_result) == 1
    table = rows(capsys.readouterr().out)
    cell = "3.11-5.2" if default_result == "1" else "3.10-4.2"
    assert table[cell] == expected


def test_django_free_part_imports_no_django() -> None:
    """Every file the matrix runs once per Python (noxfile.DJANGO_FREE) imports neither Django nor worker/channels."""
    import ast

    root = Path(noxfile.__file__).parent
    for path in noxfile.DJANGO_FREE:
        tree = ast.parse((root / path).read_text(encoding="utf8"))
        modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not {m for m in modules if m.split(".")[0] in ("django", "worker", "channels")}, path
        assert not {m for m in modules if m.startswith("tests.djangoapp")}, path


def test_each_python_runs_the_django_free_part_exactly_once() -> None:
    """With the default cell 3.11-5.2 (whole suite), 3.10, 3.12 and 3.13 run DJANGO_FREE in their first cell only."""
    default = "3.11-5.2"
    runs = {
        python: [d for p, d in noxfile.cells() if p == python and noxfile.runs_django_free(p, d, default)]
        for python in noxfile.PYTHONS
    }
    assert runs == {"3.10": ["4.2"], "3.11": [], "3.12": ["4.2"], "3.13": ["4.2"]}
    reduced = noxfile.cell_tests("3.13", "6.1", default)
    assert "tests/integration/test_is_http.py" not in reduced and "tests/unit" in reduced
    assert "--ignore=tests/unit/test_is_connection.py" in reduced
    assert noxfile.cell_tests("3.13", "4.2", default) == noxfile.FAST_PART
