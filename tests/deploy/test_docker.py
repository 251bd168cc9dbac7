"""deploy/docker/: the example's Dockerfile and compose file, checked and their commands run (no Docker engine here).

Nothing here builds the image: the machine runs no Docker engine. Instead the Dockerfile is parsed
(every COPY source exists in the build context and is not ignored; the default command is exec form),
the compose file is parsed (services, dependencies, build context, volume), and every service's
command is started as the container would start it: the image's ENV plus the service's environment,
the image's WORKDIR (examples/chat), the venv's ``python``/``daphne`` for the image's, and a real Redis
for ``redis:6379``.
"""

from __future__ import annotations

import fnmatch
import json
import shlex

import pytest
import yaml

from tests.deploy.support import DEPLOY, ROOT, VENV_BIN, get_json, wait_until
from tests.support.processes import ManagedProcess, start_server

pytestmark = [pytest.mark.redis, pytest.mark.deploy]

DOCKER = DEPLOY / "docker"
APP_SERVICES = ("migrate", "daphne", "worker-default", "worker-background")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in (DOCKER / "Dockerfile").read_text().splitlines():
        if raw.lstrip().startswith("#") and not pending:
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if line:
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def image_cmd() -> list[str]:
    (cmd,) = [rest for word, rest in instructions() if word == "CMD"]
    return json.loads(cmd)


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return any(fnmatch.fnmatch(path.rstrip("/"), pattern) for pattern in patterns)


def test_dockerfile_copies_what_exists_and_runs_our_cli():
    """Every COPY source exists in the context (the repo root) and is not ignored; CMD is daphne in exec form."""
    copies = [shlex.split(rest)[:-1] for word, rest in instructions() if word == "COPY"]
    sources = [source for sources in copies for source in sources]
    assert "examples/chat/" in sources and "setup.py" in sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the build context"
        assert not ignored(source), f"COPY {source}: excluded by Dockerfile.dockerignore"
    # pip install . needs everything setup.py reads and every package it lists.
    for needed in (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "channellayer/",
        "interfaceserver/",
        "worker/",
        "channels/",
    ):
        assert needed in sources, needed
    assert [rest for word, rest in instructions() if word == "WORKDIR"][-1] == "/app"
    assert image_cmd()[0] == "daphne" and image_cmd()[-1] == "chatsite.asgi:channel_layer"
    assert [rest for word, rest in instructions() if word == "USER"] == ["chat"]


def test_compose_file_wires_the_services():
    """Redis, migrate, one interface server and two pools; everything else waits for Redis and the migration."""
    spec = compose()
    services = spec["services"]
    assert set(services) == {"redis", *APP_SERVICES}
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"] == {"context": "../..", "dockerfile": "deploy/docker/Dockerfile"}
        assert (DOCKER / service["build"]["context"]).resolve() == ROOT
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["volumes"] == ["chat-run:/var/lib/chat"]
        assert set(service["depends_on"]) <= set(services)
        if name != "migrate":
            assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
            assert service["stop_grace_period"] == "40s"
    assert set(spec["volumes"]) == {"chat-run"}
    assert services["daphne"]["ports"] == ["8000:8000"] and "command" not in services["daphne"]
    assert services["worker-default"]["command"][3:5] == ["--exclude-channels", "reports.*"]
    assert services["worker-background"]["command"][3:5] == ["--only-channels", "reports.*"]


def container_argv(name: str, port: int) -> list[str]:
    """The service's command (or the image's CMD) with the image's executables swapped for the venv's
    and its ``-p`` (daphne's; no other service has one) set to ``port``."""
    command = compose()["services"][name].get("command") or image_cmd()
    command = [str(VENV_BIN / command[0]), *command[1:]]
    if "-p" in command:
        command[command.index("-p") + 1] = str(port)
    return command


def test_every_service_command_runs_against_redis(redis_db, tmp_path):
    """migrate exits 0; the image's daphne serves /healthz through the default pool; each pool listens on its channels."""
    services = compose()["services"]

    def env_of(name: str) -> dict[str, str]:
        import os

        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **image_env(), **services[name]["environment"]}
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        # The example sets no key prefix: a database of its own on the session's redis-server instead.
        env["REDIS_URL"] = redis_db.url
        env["CHAT_RUN_DIR"] = str(tmp_path / "run")  # the chat-run volume
        env["PYTHONPATH"] = str(ROOT)
        return env

    app_dir = str(ROOT / "examples" / "chat")
    migrate = ManagedProcess("compose-migrate", container_argv("migrate", 0), env=env_of("migrate"), cwd=app_dir)
    assert migrate.popen.wait(120) == 0, migrate.log()
    started: list[ManagedProcess] = []
    try:
        daphne = start_server(
            "compose-daphne", lambda port: container_argv("daphne", port), env=env_of("daphne"), cwd=app_dir, timeout=60
        )
        started.append(daphne)
        for name in ("worker-default", "worker-background"):
            started.append(ManagedProcess(f"compose-{name}", container_argv(name, 0), env=env_of(name), cwd=app_dir))
        _, default, background = started
        port = daphne.port or 0
        status, body = wait_until(lambda: get_json(port, "/healthz", timeout=10), timeout=60, what="/healthz")
        assert status == 200 and body["worker_pid"] == default.pid, body
        wait_until(lambda: "Listening on channels" in background.log(), timeout=30, what="the background pool")
        listening = {
            p: next(line for line in p.log().splitlines() if "Listening on channels" in line)
            for p in (default, background)
        }
        assert "reports.render" in listening[background] and "http.request" not in listening[background]
        assert "http.request" in listening[default] and "reports.render" not in listening[default]
    finally:
        codes = [process.stop(timeout=40) for process in started]
    assert codes == [0, 0, 0], [process.log()[-2000:] for process in started]


def test_ignore_file_keeps_the_context_small():
    """The virtualenv, git history and tests never enter the build context."""
    for path in (".venv", ".git", "tests", "examples/chat/.run", "channels/__pycache__"):
        assert ignored(path), path
    assert not ignored("examples/chat") and not ignored("channellayer")
