"""The guides' ``[Errno 88] Socket operation on non-socket`` pitfall: ``--fd N`` without a listening socket on N.

The supervisord file's interface-server command only works under ``[fcgi-program]``, which creates the
socket on fd 0. Run by hand or as a plain ``[program]`` (stdin a pipe), the server must stop at once
with an error that names the descriptor and says what to do, instead of a traceback and a process that
keeps running while listening on nothing.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess

import pytest
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor

from interfaceserver.endpoints import AdoptedSocketEndpoint, NotAListeningSocket
from tests.deploy.support import DEPLOY, PROJECT, common_replacements, project_env, render, unit_lines

pytestmark = [pytest.mark.deploy]


def _failure(fileno: int) -> NotAListeningSocket:
    errors: list[BaseException] = []
    AdoptedSocketEndpoint(MemoryReactor(), fileno).listen(Factory()).addErrback(lambda f: errors.append(f.value))
    assert len(errors) == 1, "listen() did not fail"
    assert isinstance(errors[0], NotAListeningSocket)
    return errors[0]


def test_fcgi_program_command_run_by_hand_says_what_to_do(tmp_path):
    """The shipped [fcgi-program] command with a pipe on fd 0 exits 1 naming fd 0, Errno 88 and the remedies."""
    conf = render(
        DEPLOY / "supervisord" / "chatsite.conf",
        [
            *common_replacements(tmp_path),
            ("/run/daphne", str(tmp_path)),
        ],
    )
    command = next(
        value for section, key, value in unit_lines(conf) if section == "fcgi-program:asgi" and key == "command"
    )
    argv = shlex.split(command.replace("%(process_num)d", "0"))
    assert argv[1:3] == ["--fd", "0"]
    env = project_env("redis://127.0.0.1:1/0", "deployfd:")
    result = subprocess.run(
        argv, stdin=subprocess.PIPE, capture_output=True, text=True, timeout=60, cwd=PROJECT, env=env
    )
    assert result.returncode == 1, result.stderr
    assert (
        "fd 0 is not a listening socket ([Errno 88] Socket operation on non-socket). "
        "--fd 0 adopts a socket that the parent process has already bound and set listening"
    ) in result.stderr
    assert "run this command under supervisord as an [fcgi-program] with socket=tcp://..." in result.stderr
    assert "or let the server bind by itself with -b/-p, -u or -e" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_connected_or_unbound_socket_is_refused():
    """A stream socket that is not listening fails with "not listening", not a crash at the first accept."""
    with socket.socket() as sock:
        error = _failure(sock.fileno())
    assert error.reason == "it is a socket, but not listening: unbound or connected"
    assert str(error).startswith(f"fd {error.fileno} is not a listening socket (it is a socket, but not listening")


def test_a_datagram_socket_is_refused():
    """A UDP socket names its type."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert _failure(sock.fileno()).reason == "it is a SOCK_DGRAM socket, not SOCK_STREAM"


def test_a_closed_descriptor_is_refused():
    """A descriptor that is not open at all (EBADF) is reported with its errno."""
    fd = os.open(os.devnull, os.O_RDONLY)
    os.close(fd)
    assert _failure(fd).reason == "[Errno 9] Bad file descriptor"


def test_a_listening_socket_is_adopted():
    """The same check accepts a listening TCP socket (so the errors above are not raised for everything)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        reactor = MemoryReactor()
        ports: list[object] = []
        AdoptedSocketEndpoint(reactor, sock.fileno()).listen(Factory()).addCallback(ports.append)
        assert len(ports) == 1
        assert reactor.adoptedPorts[0][:2] == (sock.fileno(), socket.AF_INET)
