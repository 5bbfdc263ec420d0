"""Run the app with uvicorn in a background thread (tests, benchmarks, notebooks).

Example:
    >>> with BackgroundServer(create_app(service)) as url:              # doctest: +SKIP
    ...     imagevec.connect(url).search("a cat")
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from imagevec.serve.limits import Limits, uvicorn_config

__all__ = ["BackgroundServer"]


class BackgroundServer:
    """A uvicorn server on ``host`` and a free (or given) port, in a daemon thread.

    Args:
        app: the ASGI app.
        host: the address to bind (loopback by default).
        port: 0 picks a free port.
        limits: connection limits (:class:`~imagevec.serve.limits.Limits`; the defaults).
    """

    def __init__(
        self, app: Any, *, host: str = "127.0.0.1", port: int = 0, limits: Limits | None = None
    ) -> None:
        import uvicorn

        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = host, self._socket.getsockname()[1]
        config = uvicorn_config(app, host=host, port=self.port, limits=limits)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        """Start serving; returns :attr:`url` once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self.url

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
