"""Connection limits of the HTTP servers (``imagevec serve`` and ``imagevec mcp --http``).

uvicorn's defaults leave a server on a laptop easy to starve: the ``httptools`` parser
buffers request headers of any size, a connection that never finishes its request header
is kept forever, and nothing stops a flood of such connections from using every file
descriptor. :func:`uvicorn_config` builds the one configuration both servers use:

* the ``h11`` parser with a cap on a request's header block (:attr:`Limits.max_header_bytes`,
  answered with 400 and the connection closed);
* :class:`GuardedH11Protocol`: a connection must deliver a whole request header within
  :attr:`Limits.header_timeout` seconds of its first byte (or of connecting), else it is
  closed; at :attr:`Limits.max_connections` open connections, a new one evicts the oldest
  connection that is still waiting for a request header (idle keep-alive or half-open), so
  a flood of half-open sockets cannot lock out real clients;
* idle keep-alive connections closed after :attr:`Limits.keep_alive` seconds;
* a graceful shutdown bounded by :attr:`Limits.shutdown_timeout` seconds; a request still
  running in a worker thread (a forward pass cannot be interrupted) no longer holds the
  process: :class:`BoundedServer` exits it :attr:`Limits.exit_grace` seconds later.

Example:
    >>> config = uvicorn_config(app, host="127.0.0.1", port=8700)      # doctest: +SKIP
    >>> uvicorn.Server(config).run()                                    # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "BoundedServer",
    "GuardedH11Protocol",
    "Limits",
    "RedactTokens",
    "bounded_server",
    "raise_fd_limit",
    "uvicorn_config",
]

_order = itertools.count()


@dataclass(frozen=True)
class Limits:
    """Connection limits (seconds, bytes, counts).

    Attributes:
        max_header_bytes: largest request line + headers.
        header_timeout: seconds a connection may take to send a whole request header.
        keep_alive: seconds an idle keep-alive connection is kept.
        max_connections: open connections before the oldest waiting one is dropped.
        shutdown_timeout: seconds a graceful shutdown waits for running requests.
        exit_grace: seconds after that before the process exits regardless (a request
            still running in a worker thread; cleanup that hangs).
    """

    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    keep_alive: int = 5
    max_connections: int = 256
    shutdown_timeout: int = 5
    exit_grace: float = 5.0


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-header deadline and a connection cap that
    evicts the oldest connection still waiting for its request (see the module docstring)."""

    limits = Limits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._order = next(_order)
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            victim = min(
                (
                    c
                    for c in self.connections
                    if c is not self and _waiting(c) and not c.transport.is_closing()
                ),
                key=lambda c: getattr(c, "_order", 0),
                default=self,
            )
            victim.transport.close()
            if victim is self:
                return
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        """Start the header deadline while no whole request header is in; stop it after."""
        if not _waiting(self) or self.transport.is_closing():
            self._disarm()
        elif self._header_timer is None:
            self._header_timer = self.loop.call_later(self.limits.header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        if _waiting(self) and not self.transport.is_closing():
            self.transport.close()


def _waiting(protocol: Any) -> bool:
    """True while the connection has no request in progress (before or between requests)."""
    if not isinstance(protocol, GuardedH11Protocol):
        return False  # e.g. a websocket: never evicted
    cycle = getattr(protocol, "cycle", None)
    idle = cycle is None or cycle.response_complete
    return bool(idle and protocol.conn.their_state in (h11.IDLE, h11.DONE))


def _protocol(limits: Limits) -> type[GuardedH11Protocol]:
    return type("Guarded", (GuardedH11Protocol,), {"limits": limits})


def uvicorn_config(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    limits: Limits | None = None,
    verbose: bool = False,
    **options: Any,
) -> Any:
    """A ``uvicorn.Config`` for ``app`` with :class:`Limits` applied (h11 parser, header cap,
    header deadline, connection cap, keep-alive and shutdown timeouts); quiet unless
    ``verbose`` (then the access log is on, with tokens redacted)."""
    import uvicorn

    limits = limits or Limits()
    if verbose:
        logging.getLogger("uvicorn.access").addFilter(RedactTokens())
    defaults: dict[str, Any] = dict(
        host=host,
        port=port,
        http=_protocol(limits),
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_keep_alive=limits.keep_alive,
        timeout_graceful_shutdown=limits.shutdown_timeout,
        log_level="info" if verbose else "warning",
        access_log=verbose,
        proxy_headers=False,
        server_header=False,
    )
    return uvicorn.Config(app, **{**defaults, **options})


def bounded_server(config: Any) -> Any:
    """A :class:`BoundedServer` for ``config`` (a ``uvicorn.Config`` from
    :func:`uvicorn_config`)."""
    import uvicorn

    class _Bounded(BoundedServer, uvicorn.Server):
        pass

    return _Bounded(config)


class BoundedServer:
    """Mixin for ``uvicorn.Server``: the first SIGINT/SIGTERM also starts a watchdog that
    ends the process ``shutdown_timeout + exit_grace`` seconds later if it is still alive
    (status 1, with a line on stderr). Use :func:`bounded_server`."""

    config: Any
    _watchdog: threading.Thread | None = None

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)  # type: ignore[misc]
        if self._watchdog is None:
            limits: Limits = getattr(self.config.http, "limits", Limits())
            delay = (self.config.timeout_graceful_shutdown or 0) + limits.exit_grace
            self._watchdog = threading.Thread(target=_exit_after, args=(delay,), daemon=True)
            self._watchdog.start()


def _exit_after(delay: float) -> None:
    time.sleep(delay)
    sys.stderr.write(f"imagevec: still busy {delay:g} s after the stop signal; exiting now\n")
    sys.stderr.flush()
    os._exit(1)


_TOKEN = re.compile(r"((?:^|[?&;])token=)[^&;#\s\"]*", re.IGNORECASE)


class RedactTokens(logging.Filter):
    """Replace ``token=...`` in access-log lines (``GET /?token=...``) with ``token=***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        elif isinstance(record.msg, str):
            record.msg = _TOKEN.sub(r"\1***", record.msg)
        return True


def raise_fd_limit(wanted: int = 8192) -> int:
    """Raise this process's open-file limit towards ``wanted`` (within the hard limit);
    returns the soft limit now in force (0 where there is no such limit)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return int(soft)
