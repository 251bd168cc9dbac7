"""A real Redis Cluster for the tests: 3 masters + 3 replicas of redis-server on free ports.

Each node is a ``redis-server --cluster-enabled yes`` in its own temporary directory (its
``nodes.conf`` lives there) whose cluster bus listens on a second free port of its own
(``--cluster-port``, so no node needs port + 10000 to be free); both ports are awaited and retried by
:func:`tests.support.processes.start_server`. ``redis-cli --cluster create ... --cluster-replicas 1``
joins them. ``cluster-node-timeout`` is 2000 ms, so a master killed with SIGKILL is replaced by its replica
within a few seconds. Nodes are stopped by pid.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from typing import Any

import redis

from tests.support.processes import RedisServer

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"

NODE_TIMEOUT_MS = 2000


class RedisClusterNodes:
    """Six cluster nodes (three masters, three replicas) joined into one cluster with all 16384 slots."""

    def __init__(self, masters: int = 3, replicas: int = 1) -> None:
        self.nodes: list[RedisServer] = []
        try:
            for _ in range(masters * (1 + replicas)):
                self.nodes.append(
                    RedisServer(
                        cluster=True,
                        extra=[
                            "--cluster-node-timeout",
                            str(NODE_TIMEOUT_MS),
                            "--repl-diskless-sync",
                            "yes",
                            "--repl-diskless-sync-delay",
                            "0",
                        ],
                    )
                )
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            subprocess.run(
                [REDIS_CLI, "--cluster", "create", *addresses, "--cluster-replicas", str(replicas), "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    @property
    def hosts(self) -> list[tuple[str, int]]:
        return [node.address for node in self.nodes if node.process is not None]

    def alive(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.process is not None and node.process.alive()]

    def info(self, node: RedisServer) -> dict[str, Any]:
        raw = node.client().execute_command("CLUSTER", "INFO")
        text = raw.decode() if isinstance(raw, bytes) else raw
        return dict(line.split(":", 1) for line in text.split() if ":" in line)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Until every live node says cluster_state:ok and sees all slots served, and every replica is in sync."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                ok = all(
                    self.info(n).get("cluster_state") == "ok" and self.info(n).get("cluster_slots_ok") == "16384"
                    for n in self.alive()
                )
                ok = ok and all(self._replica_synced(n) for n in self.alive())
            except redis.RedisError:
                ok = False
            if ok:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the Redis cluster did not become healthy in time")
            time.sleep(0.1)

    @staticmethod
    def _replica_synced(node: RedisServer) -> bool:
        info = node.client().info("replication")
        return info.get("role") != "slave" or info.get("master_link_status") == "up"

    def master_for_key(self, key: str) -> RedisServer:
        """The node currently serving ``key``'s slot as master."""
        slot = int(self.alive()[0].client().execute_command("CLUSTER", "KEYSLOT", key))
        for node in self.alive():
            if node.client().info("replication").get("role") != "master":
                continue
            for entry in node.client().execute_command("CLUSTER", "SLOTS"):
                start, end, master = int(entry[0]), int(entry[1]), entry[2]
                if start <= slot <= end:
                    port = int(master[1])
                    return next(n for n in self.nodes if n.port == port)
        raise LookupError(f"no master serves slot {slot}")

    def node_id(self, node: RedisServer) -> str:
        raw = node.client().execute_command("CLUSTER", "MYID")
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def masters(self) -> list[RedisServer]:
        return [n for n in self.alive() if n.client().info("replication").get("role") == "master"]

    def kill(self, node: RedisServer) -> None:
        """SIGKILL one node (its replica takes over after cluster-node-timeout)."""
        node.stop()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
