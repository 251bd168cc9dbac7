"""The original Channels 1.1.8 test suite (``../shared/peer/channels-1.1.8``) passes 100 of 100 on channels-classic.

The suite and its shims are run unchanged through the folder's own ``run`` script, in a child process
of its own session, so a hang is killed with everything it started (process group) instead of
hanging pytest. ``PEER_SUITE_DIR`` points elsewhere when the folder is not next to the checkout.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PEER = Path(os.environ.get("PEER_SUITE_DIR", REPO.parent / "shared" / "peer" / "channels-1.1.8"))
#: The run script's own per-test limit is 15 s; a whole run takes ~10 s here.
RUN_TIMEOUT = 240
EXPECTED = 100


def _run_peer_suite() -> tuple[int, str]:
    env = dict(os.environ, PEER_TEST_TIMEOUT="15", PEER_SUITE_TIMEOUT=str(RUN_TIMEOUT - 20))
    proc = subprocess.Popen(
        ["bash", str(PEER / "run"), sys.executable],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"the 1.1.8 suite did not finish within {RUN_TIMEOUT}s (killed):\n{output[-5000:]}")
    return proc.returncode, output


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_channels_118_suite_passes_100_of_100():
    """Every one of the 100 tests of Channels 1.1.8's own suite passes: no failure, no error, no hang."""
    if not (PEER / "run").is_file():
        pytest.skip(f"the Channels 1.1.8 suite is not at {PEER} (set PEER_SUITE_DIR)")
    pytest.importorskip("six", reason="the 1.1.8 suite imports six: install the 'test' extra")
    code, output = _run_peer_suite()
    summary = re.findall(r"^peer suite: .*$", output, re.MULTILINE)
    assert summary, f"no summary line from the suite:\n{output[-5000:]}"
    problems = "\n".join(re.findall(r"^peer (?:FAILED|ERROR) .*$", output, re.MULTILINE))
    assert summary[-1] == f"peer suite: {EXPECTED} passed, 0 failed, 0 errors of {EXPECTED}", (
        f"{summary[-1]}\n{problems}\n--- output tail ---\n{output[-8000:]}"
    )
    assert code == 0, output[-3000:]
