"""deploy/nginx/chatsite.conf in a real nginx (Debian's, installed when missing) in front of two interface servers.

nginx listens on free ports (HTTP redirecting to HTTPS with a certificate made here), proxies to two
daphne processes on the UNIX sockets the site names, and serves the collected static files itself.
"""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import websocket

from tests.deploy.support import (
    DEPLOY,
    PROJECT,
    SHIPPED_STATIC,
    VENV_BIN,
    new_prefix,
    project_env,
    render,
    wait_until,
)
from tests.support.processes import ManagedProcess, start_server
from tests.support.tls import make_self_signed

pytestmark = [pytest.mark.redis, pytest.mark.deploy]

SITE = DEPLOY / "nginx" / "chatsite.conf"


def nginx_binary() -> str:
    """nginx, installed from Debian (nginx-light) when the machine has none."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = subprocess.run(
        ["apt-get", "install", "-y", "-q", "nginx-light"], capture_output=True, text=True, env=env, timeout=600
    )
    if install.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600, check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "nginx-light"], capture_output=True, env=env, timeout=600, check=True
        )
    return shutil.which("nginx") or "/usr/sbin/nginx"


def main_conf(base: Path, site: Path, error_log: str = "") -> str:
    """The nginx.conf around the site: foreground, every path in ``base``, workers as root (tmp dirs are 0700);
    the error log is ``error_log`` (``base``/error.log by default)."""
    return f"""\
daemon off;
user root;
worker_processes 1;
pid {base}/nginx.pid;
error_log {error_log or base / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log {base}/access.log;
    client_body_temp_path {base}/body;
    proxy_temp_path {base}/proxy;
    fastcgi_temp_path {base}/fastcgi;
    uwsgi_temp_path {base}/uwsgi;
    scgi_temp_path {base}/scgi;
    include {site};
}}
"""


def test_nginx_accepts_the_shipped_site(tmp_path):
    """nginx -t passes on the shipped site with only its certificate paths pointed at a real certificate."""
    cert, key = make_self_signed(tmp_path)
    site = tmp_path / "chatsite.conf"
    site.write_text(
        render(SITE, [("/etc/ssl/chatsite/fullchain.pem", str(cert)), ("/etc/ssl/chatsite/privkey.pem", str(key))])
    )
    (tmp_path / "nginx.conf").write_text(main_conf(tmp_path, site))
    result = subprocess.run(
        [
            nginx_binary(),
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-e",
            str(tmp_path / "error.log"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@dataclass
class Proxied:
    http_port: int
    https_port: int
    cert: Path
    daphnes: list[ManagedProcess]

    def https(self) -> http.client.HTTPSConnection:
        context = ssl.create_default_context(cafile=str(self.cert))
        return http.client.HTTPSConnection("127.0.0.1", self.https_port, context=context, timeout=10)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        conn = self.https()
        try:
            conn.request("GET", path, headers={"Host": "chat.example.com", **(headers or {})})
            response = conn.getresponse()
            return response.status, response.read(), dict(response.getheaders())
        finally:
            conn.close()

    def wss(self, path: str) -> websocket.WebSocket:
        return websocket.create_connection(
            f"wss://127.0.0.1:{self.https_port}{path}",
            timeout=10,
            host="chat.example.com",
            sslopt={"ca_certs": str(self.cert)},
        )


@pytest.fixture(scope="module")
def proxied(redis_server, tmp_path_factory) -> Iterator[Proxied]:
    """nginx (the shipped site) -> daphne x2 on UNIX sockets -> one worker, static files collected."""
    base = tmp_path_factory.mktemp("nginx")
    run, static = base / "run", base / "static"
    run.mkdir()
    cert, key = make_self_signed(base)
    env = project_env(redis_server.url, new_prefix(), DEPLOY_STATIC_ROOT=str(static))
    subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=PROJECT,
        env=env,
        check=True,
        timeout=120,
    )
    started: list[ManagedProcess] = []
    try:
        daphnes = [
            ManagedProcess(
                f"daphne{n}",
                [
                    str(VENV_BIN / "daphne"),
                    "-u",
                    str(run / f"daphne{n}.sock"),
                    "--access-log",
                    "-",
                    "--proxy-headers",
                    "deploysite.asgi:channel_layer",
                ],
                env=env,
                cwd=str(PROJECT),
            )
            for n in (0, 1)
        ]
        started += daphnes
        started.append(
            ManagedProcess("worker", [str(VENV_BIN / "python"), "manage.py", "runworker"], env=env, cwd=str(PROJECT))
        )
        site = base / "chatsite.conf"

        def nginx_argv(http_port: int, https_port: int) -> list[str]:
            """The shipped site on this try's two ports; errors (a port in use, too) go to the process's log."""
            site.write_text(
                render(
                    SITE,
                    [
                        (SHIPPED_STATIC, str(static)),
                        ("/run/daphne", str(run)),
                        ("/etc/ssl/chatsite/fullchain.pem", str(cert)),
                        ("/etc/ssl/chatsite/privkey.pem", str(key)),
                        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
                        ("listen [::]:80;\n", ""),
                        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
                        ("listen [::]:443 ssl http2;\n", ""),
                    ],
                )
            )
            (base / "nginx.conf").write_text(main_conf(base, site, error_log="stderr"))
            return [nginx_binary(), "-p", str(base), "-c", str(base / "nginx.conf"), "-e", "stderr"]

        nginx = start_server("nginx", nginx_argv, ports=2)
        started.append(nginx)
        http_port, https_port = nginx.ports
        for n in (0, 1):
            wait_until(lambda n=n: (run / f"daphne{n}.sock").exists(), timeout=30, what=f"daphne{n}.sock")
        proxied = Proxied(http_port, https_port, cert, daphnes)
        wait_until(lambda: proxied.get("/hello/")[0] == 200, timeout=60, what="the project answering through nginx")
        yield proxied
    finally:
        for process in reversed(started):
            process.stop()


def test_http_redirects_to_https(proxied):
    """Port 80's server answers 301 to the same path on https."""
    conn = http.client.HTTPConnection("127.0.0.1", proxied.http_port, timeout=10)
    conn.request("GET", "/hello/?x=1", headers={"Host": "chat.example.com"})
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == "https://chat.example.com/hello/?x=1"


def test_https_request_reaches_the_worker_with_the_client_address(proxied):
    """The worker sees the real client address, scheme https and the Host; a forged X-Forwarded-For is ignored."""
    status, body, _ = proxied.get("/hello/", headers={"X-Forwarded-For": "203.0.113.9"})
    assert status == 200
    import json

    seen = json.loads(body)
    assert seen["remote_addr"] == "127.0.0.1"
    assert seen["scheme"] == "https"
    assert seen["host"] == "chat.example.com"


def test_websocket_upgrade_through_nginx(proxied):
    """wss:// through nginx: the upgrade passes, the consumer sees the client's address and port, echo works."""
    import json

    ws = proxied.wss("/whoami/")
    local_port = ws.sock.getsockname()[1]
    hello = json.loads(ws.recv())
    # X-Forwarded-For/-Port: the client is this socket's own end, as nginx saw it.
    assert hello["client"] == ["127.0.0.1", local_port]
    # As in Daphne 1.4.2, websocket.connect carries no scheme; behind TLS the header says it was wss.
    assert hello["scheme"] is None
    assert hello["x_forwarded_proto"] == "https"
    ws.close()
    echo = proxied.wss("/echo/")
    echo.send("through nginx")
    assert json.loads(echo.recv())["echo"] == "through nginx"
    echo.close()


def test_static_files_are_served_by_nginx(proxied):
    """/static/ comes from the collectstatic directory, with caching headers, and never reaches daphne."""
    status, body, headers = proxied.get("/static/deploysite/hello.txt")
    assert status == 200
    assert body == b"static file served by nginx\n"
    assert "max-age=604800" in headers.get("Cache-Control", "")
    assert all("/static/" not in daphne.log() for daphne in proxied.daphnes)
    assert any("GET /hello/" in daphne.log() for daphne in proxied.daphnes)
