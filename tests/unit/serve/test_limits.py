"""Connection-level attacks on a real uvicorn on 127.0.0.1 (slow tier): huge headers,
half-open connections, SIGTERM during a long query; and the access log's redaction."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from imagevec.serve.app import create_app
from imagevec.serve.limits import Limits, RedactTokens, uvicorn_config
from imagevec.serve.runner import BackgroundServer
from imagevec.service import QueryService
from tests.support.served import build_colour_index, wait_until_healthy

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def colour_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    photos = tmp_path_factory.mktemp("colours")
    for name, rgb in (("red", (220, 10, 10)), ("green", (10, 200, 10))):
        Image.new("RGB", (64, 48), rgb).save(photos / f"{name}.png")
    db = tmp_path_factory.mktemp("db")
    build_colour_index(photos, db)
    return photos, db


@pytest.fixture(scope="module")
def guarded(
    colour_db: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    photos, db = colour_db
    limits = Limits(max_connections=20, header_timeout=1.5, max_header_bytes=32 * 1024)
    cache = tmp_path_factory.mktemp("cache")
    service = QueryService.open(db, roots=[photos], cache_dir=cache, device="cpu")
    with service, BackgroundServer(create_app(service), limits=limits) as url:
        yield url


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _partial(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return sock


@pytest.mark.slow  # a real server
def test_a_huge_header_is_refused_not_buffered(guarded: str) -> None:
    sock = socket.create_connection(("127.0.0.1", _port(guarded)), timeout=10)
    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
    sent = 0
    try:
        while sent < 8 * 2**20:  # stop by ourselves at 8 MiB
            sock.sendall(b"a" * 65536)
            sent += 65536
    except OSError:
        pass  # the server closed the connection
    reply = sock.recv(4096)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
    assert sent < 8 * 2**20  # refused while sending (kernel buffers hold a few MB)
    assert httpx.get(f"{guarded}/api/health").status_code == 200


@pytest.mark.slow  # a real server
def test_half_open_connections_are_dropped_and_never_lock_out_clients(guarded: str) -> None:
    port = _port(guarded)
    sockets = [_partial(port) for _ in range(60)]  # 3x the connection cap
    try:
        answered = 0
        for _ in range(10):
            with httpx.Client(timeout=5) as client:
                answered += client.get(f"{guarded}/api/health").status_code == 200
        assert answered == 10
        last = sockets[-1]  # not evicted (newest), so the header deadline must close it
        last.settimeout(6)
        started = time.monotonic()
        assert last.recv(100) == b""
        assert time.monotonic() - started < 5
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.slow  # a server process
def test_sigterm_stops_the_server_during_a_long_query(
    colour_db: tuple[Path, Path], tmp_path: Path
) -> None:
    _, db = colour_db
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import sys, time, tests.support.color_encoder\n"
        "from imagevec.service import QueryService\n"
        "QueryService.search_json = lambda self, *a, **k: time.sleep(120) or []\n"
        "from imagevec.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    args = ["serve", "--db", str(db), "--port", str(port), "--device", "cpu"]
    args += ["--cache-dir", str(tmp_path / "cache")]
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, proc, timeout=60)
        stuck = threading.Thread(
            target=lambda: httpx.get(f"{url}/api/search", params={"q": "red"}, timeout=30),
            daemon=True,
        )
        stuck.start()
        time.sleep(1.0)  # the query is running
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        proc.wait(25)  # shutdown_timeout 5 s + exit_grace 5 s, with room for a busy machine
        assert time.monotonic() - started < 20
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_access_log_never_shows_the_token() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/?token=s3cret-token-for-tests&x=1", "1.1", 303),
        None,
    )
    assert RedactTokens().filter(record)
    line = record.getMessage()
    assert "s3cret" not in line and "token=***&x=1" in line
    access = logging.getLogger("uvicorn.access")
    before = list(access.filters)
    try:
        uvicorn_config(lambda *a: None, verbose=True)
        assert any(isinstance(f, RedactTokens) for f in access.filters)
    finally:
        access.filters[:] = before
