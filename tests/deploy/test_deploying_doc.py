"""docs/deploying.md keeps its promises: the files it points to exist, and its monitoring command works."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
import redis

from tests.deploy.support import PROJECT, ROOT, VENV_BIN, new_prefix, project_env

pytestmark = [pytest.mark.deploy]

DOC = ROOT / "docs" / "deploying.md"


def test_every_linked_file_exists():
    """Each relative link of the guide names a file or folder of the repository."""
    links = re.findall(r"\]\((\.\./[^)#]+)\)", DOC.read_text())
    assert len(links) >= 15
    for link in links:
        assert (DOC.parent / link).resolve().exists(), link


def test_every_deploy_file_is_in_the_guide():
    """No file under deploy/ goes unmentioned (by name) in the guide."""
    text = DOC.read_text()
    for path in sorted((ROOT / "deploy").rglob("*")):
        if path.is_file():
            assert path.name in text, f"docs/deploying.md does not mention deploy/{path.relative_to(ROOT / 'deploy')}"


@pytest.mark.redis
def test_the_channel_depth_command_reports_pending_messages(redis_server):
    """The guide's `manage.py shell -c ...channel_statistics(...)` command shows a message waiting on a channel."""
    (command,) = re.findall(r"`(python manage\.py shell -c \"[^`]+channel_statistics[^`]+)`", DOC.read_text())
    argv = shlex.split(command)
    argv[0] = str(VENV_BIN / "python")
    prefix = new_prefix()
    client = redis.Redis.from_url(redis_server.url)
    env = project_env(redis_server.url, prefix)
    # One message waiting on http.request, put there by the layer itself (so the format is the real one).
    subprocess.run(
        [
            str(VENV_BIN / "python"),
            "manage.py",
            "shell",
            "-c",
            "from channels import Channel; Channel('http.request').send({'path': '/'})",
        ],
        cwd=PROJECT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert client.llen(f"{prefix}http.request") == 1
    out = subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "'messages_pending': 1" in out.stdout, out.stdout
