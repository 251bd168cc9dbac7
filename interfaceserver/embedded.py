"""Run an interface server inside this process: the one place where a server is put together and run.

The ``daphne`` command, ``manage.py runserver`` and the live-server test case all run the server
through :class:`EmbeddedServer`; nothing else installs a reactor or starts a :class:`Server`::

    from interfaceserver.config import Config
    from interfaceserver.embedded import EmbeddedServer

    server = EmbeddedServer(Config(channel_layer="demo", endpoints=("tcp:port=0:interface=127.0.0.1",)), layer)
    server.start()                # a background thread; returns once listening
    print(server.ports)           # (41237,): the TCP ports bound, in endpoint order
    ...
    server.stop()                 # drain (as on SIGTERM), then wait for the thread

or ``EmbeddedServer(config, layer).run()`` in the current thread, as the command line does: until
SIGTERM/SIGINT (on the main thread) or :meth:`EmbeddedServer.stop` from another thread, returning the
exit status. Either way the server runs on Twisted's asyncio reactor on a new event loop, and its
drain is the reactor's "before shutdown" trigger, so a signal and ``stop()`` end it the same way.

One per process: a Twisted reactor is installed once and cannot be restarted, so a second server
(or a second run) in the same process raises RuntimeError. A process that needs a fresh server per
test starts it in a child process (see ``worker/test/liveserver.py``).

The layer object is passed in (``config.channel_layer`` / ``config.layer`` only label it here), and
so is the access log: ``access_log`` is any object with ``http()`` and ``websocket()``
(:class:`AccessLogHook`), e.g. ``AccessLog(sys.stdout)``; without one nothing is logged, whatever
``config.access_log`` says (that option is the command line's, which opens the file).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .accesslog import AccessLog, AccessLogHook
from .config import Config

if TYPE_CHECKING:
    from .server import Server

__all__ = ["AccessLog", "AccessLogHook", "EmbeddedServer"]


class EmbeddedServer:
    """An interface server for ``config`` on ``layer``, run in this process (see the module docstring).

    After it ran, :attr:`exit_code` is 0, or 1 when it could not listen (:attr:`error` says why).
    """

    def __init__(self, config: Config, layer: Any, access_log: AccessLogHook | None = None) -> None:
        self.config = config
        self.layer = layer
        self.access_log = access_log
        self.exit_code = 0
        #: Why the server could not listen (exit code 1), or None.
        self.error: str | None = None
        self._server: Server | None = None
        self._reactor: Any = None
        self._thread_id: int | None = None  # the thread run() runs in
        self._lock = threading.Lock()
        self._stop_requested = False
        self._listening = threading.Event()  # set once listening, or once it is clear it will not be
        self._finished = threading.Event()
        self._failure: BaseException | None = None  # what run() raised in start()'s thread

    @property
    def ports(self) -> tuple[int, ...]:
        """The TCP ports listened on (``tcp:``/``ssl:``/``fd:`` endpoints, in endpoint order), once listening."""
        if self._server is None or not self._listening.is_set():
            return ()
        return tuple(host.port for host in (port.getHost() for port in self._server.ports) if hasattr(host, "port"))

    @property
    def reply_prefix(self) -> str | None:
        """The process-specific reply channel prefix (``daphne.response.XXXXXXXXXX!``), once running."""
        return self._server.ctx.prefix if self._server is not None else None

    def run(
        self,
        *,
        install_signal_handlers: bool = True,
        on_listening: Callable[[EmbeddedServer], None] | None = None,
    ) -> int:
        """Serve in this thread until stopped; return the exit code (1: could not listen).

        SIGTERM/SIGINT handlers are installed when asked and on the main thread only. ``on_listening``
        is called (on the reactor) once every endpoint listens. A malformed endpoint raises ValueError
        before anything listens; a second server in this process, RuntimeError.
        """
        try:
            return self._run(install_signal_handlers, on_listening)
        except BaseException as exc:
            self._failure = exc
            raise
        finally:
            self._listening.set()
            self._finished.set()

    def _run(self, install_signal_handlers: bool, on_listening: Callable[[EmbeddedServer], None] | None) -> int:
        with self._lock:
            if self._stop_requested:
                return self.exit_code
            reactor = self._reactor = _install_reactor()
            self._thread_id = threading.get_ident()
        from .server import Server  # Twisted is imported here, after the reactor is installed

        self._server = server = Server(self.config, self.layer, reactor, self.access_log)

        def started() -> None:
            server.start().addCallback(listening).addErrback(failed)

        def listening(_: object) -> None:
            self._listening.set()
            if on_listening is not None:
                on_listening(self)

        def failed(failure: Any) -> None:
            self.error = failure.getErrorMessage()
            self.exit_code = 1
            self._listening.set()
            _stop_reactor(reactor)

        reactor.callWhenRunning(started)
        reactor.addSystemEventTrigger("before", "shutdown", server.drain)
        on_main_thread = threading.current_thread() is threading.main_thread()
        reactor.run(installSignalHandlers=install_signal_handlers and on_main_thread)
        return self.exit_code

    def start(self, timeout: float = 30.0) -> EmbeddedServer:
        """Serve in a daemon thread; return once listening (see :attr:`ports`).

        Raises RuntimeError naming the reason when the server could not listen or did not within
        ``timeout`` seconds, and what :meth:`run` raised (ValueError for a malformed endpoint).
        Call :meth:`stop` before the interpreter exits: the thread is a daemon.
        """
        thread = threading.Thread(target=self._run_in_thread, name="interfaceserver", daemon=True)
        thread.start()
        if not self._listening.wait(timeout):
            self.stop(timeout)
            raise RuntimeError(f"the interface server was not listening after {timeout} s")
        if self._failure is not None:
            raise self._failure
        if self.exit_code:
            thread.join(timeout)
            raise RuntimeError(f"the interface server could not listen: {self.error}")
        return self

    def _run_in_thread(self) -> None:
        try:
            self.run(install_signal_handlers=False)
        except BaseException:  # kept by run(); start() raises it
            return

    def stop(self, timeout: float | None = None) -> bool:
        """Drain and stop (as on SIGTERM), from any thread; safe to call more than once, or before it runs.

        From another thread, wait up to ``timeout`` seconds (None: ``drain_timeout`` + 5 s) for the
        server to finish, and say whether it has; on the server's own thread, only ask.
        """
        with self._lock:
            self._stop_requested = True
            reactor = self._reactor
        if reactor is None or self._finished.is_set():  # not run yet (run() now returns at once), or over
            return True
        reactor.callFromThread(_stop_reactor, reactor)
        if threading.get_ident() == self._thread_id:
            return False
        return self._finished.wait(self.config.drain_timeout + 5 if timeout is None else timeout)


def _install_reactor() -> Any:
    """Twisted's asyncio reactor on a new event loop of this thread (once per process)."""
    if "twisted.internet.reactor" in sys.modules:
        raise RuntimeError(
            "a Twisted reactor is already installed in this process: an interface server runs once per "
            "process (a reactor cannot be restarted); start it in a child process instead"
        )
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    from twisted.internet import asyncioreactor

    asyncioreactor.install(loop)
    from twisted.internet import reactor

    return reactor


def _stop_reactor(reactor: Any) -> None:
    """Stop ``reactor`` (its drain trigger runs first) unless it is already stopping."""
    from twisted.internet.error import ReactorNotRunning

    try:
        reactor.stop()
    except ReactorNotRunning:
        pass
