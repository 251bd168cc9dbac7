"""The benchmark's report and section selection: a partial run keeps the sections it did not measure."""

from __future__ import annotations

import asyncio

import pytest

from bench import __main__ as bench_main
from bench import harness
from bench.fullstack.wsclient import HttpConn


def test_partial_run_keeps_unmeasured_sections(tmp_path, monkeypatch):
    """write_report with titles replaces a measured section and keeps another's previous text verbatim."""
    report = tmp_path / "benchmarks.md"
    report.write_text("# Benchmarks\n\n- Run: 2026-01-01 00:00 UTC\n\n## A\n\nold A table\n\n## B\n\nold B table\n")
    monkeypatch.setattr(harness, "REPORT", report)
    table = harness.Table("new B", "method", ["x"], [[1.5]])
    harness.write_report([("B", [table])], ["rounds per measurement: 1"], titles=["A", "B", "C"])
    sections = harness.previous_sections(report.read_text())
    assert list(sections) == ["A", "B"]
    assert "old A table" in sections["A"] and "_Measured 2026-01-01 00:00 UTC._" in sections["A"]
    assert "### new B" in sections["B"] and "old B table" not in sections["B"]


def test_unknown_section_name_is_refused(capsys):
    """``python -m bench nosuch`` exits 2 naming the scenarios, before starting anything."""
    with pytest.raises(SystemExit) as exc:
        bench_main.main(["nosuch"])
    assert exc.value.code == 2
    assert "no scenario matches ['nosuch']" in capsys.readouterr().err


def test_http_probe_reads_chunked_and_content_length_bodies():
    """HttpConn reads a chunked reply, then a Content-Length reply on the same keep-alive connection."""
    replies = [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n2\r\n, \r\n0\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nworld",
    ]

    async def scenario() -> list[tuple[int, bytes]]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for reply in replies:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(reply)
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        conn = HttpConn(server.sockets[0].getsockname()[1])
        got = [await conn.get("/a"), await conn.get("/b")]
        conn.close()
        server.close()
        return got

    assert asyncio.run(scenario()) == [(200, b"Hello, "), (404, b"world")]
