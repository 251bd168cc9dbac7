"""Helpers that run the legacy Channels 1 stack (built by build.sh) next to ours."""

from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def legacy_venv() -> Path:
    """Build (once, cached under ~/.cache/channels-classic) and return the legacy virtualenv."""
    out = subprocess.run(["bash", str(HERE / "build.sh")], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def legacy_python() -> str:
    return str(legacy_venv() / "bin" / "python")


def _encode(value: Any) -> Any:
    import base64

    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    import base64

    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class LegacyError(Exception):
    """An exception raised inside the legacy peer, by class name."""

    def __init__(self, name: str, text: str):
        super().__init__(f"{name}: {text}")
        self.name = name


class LegacyLayer:
    """An asgi_redis 1.4.3 layer living in a legacy-venv child process, driven over pipes."""

    def __init__(self, cls: str = "RedisChannelLayer", **kwargs: Any):
        self.process = subprocess.Popen(
            [legacy_python(), str(HERE / "peer.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._call({"op": "config", "class": cls, "kwargs": _encode(kwargs)})

    def _call(self, command: dict[str, Any]) -> Any:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the legacy peer exited")
        reply = json.loads(line)
        if "error" in reply:
            raise LegacyError(reply["error"], reply["text"])
        return _decode(reply["result"])

    def __getattr__(self, op: str) -> Any:
        if op.startswith("_"):
            raise AttributeError(op)
        return lambda *args: self._call({"op": op, "args": _encode(list(args))})

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin
            self.process.stdin.close()
            self.process.wait(10)
        if self.process.stdout:
            self.process.stdout.close()
