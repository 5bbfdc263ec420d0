"""Red-team cases for URL fetches: one deadline covers the whole fetch. A server on 127.0.0.1
that trickles its status line and headers (or its body) one byte at a time used to hold a
fetch with ``timeout=2`` for as long as it liked (25 s in the red-team run)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from imagevec.errors import ImageLoadError
from imagevec.io.http import fetch_url
from imagevec.io.policy import SourcePolicy

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n"


def _trickle(conn: socket.socket, payload: bytes, stop: threading.Event) -> None:
    try:
        conn.recv(65536)
        for byte in payload:
            if stop.wait(0.1):
                return
            conn.sendall(bytes([byte]))
    except OSError:
        pass
    finally:
        conn.close()


@pytest.fixture
def trickler() -> Iterator[callable]:
    """Start a loopback server sending ``payload`` one byte every 0.1 s; returns its URL."""
    stop = threading.Event()
    listeners: list[socket.socket] = []

    def start(payload: bytes) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=_trickle, args=(conn, payload, stop), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}/slow.png"

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


POLICY = SourcePolicy(allow_urls=True, allow_private_addresses=True, timeout=1.0)


@pytest.mark.parametrize(
    "payload",
    [HEAD * 20, HEAD + b"\x89PNG" * 300],
    ids=["slow-headers", "slow-body"],
)
def test_one_deadline_covers_headers_and_body(trickler, payload: bytes) -> None:
    url = trickler(payload)
    started = time.monotonic()
    with pytest.raises(ImageLoadError, match="timed out after 1 s"):
        fetch_url(url, POLICY)
    assert time.monotonic() - started < 2.5
