"""A real uvicorn server on 127.0.0.1 over a colour-encoder index, for API and client tests."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image

import imagevec
from imagevec.serve.app import create_app
from imagevec.serve.runner import BackgroundServer
from imagevec.service import QueryService


def build_colour_index(photos: Path, db: Path) -> None:
    """Index ``photos`` with the colour encoder into ``db``."""
    with imagevec.ImageIndex(db, encoder="test-color") as index:
        index.add(photos)


def colour_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(photos, db)``: red, green and blue pictures, indexed with the colour encoder."""
    photos = tmp_path_factory.mktemp("colours")
    for name, rgb in (("red", (220, 10, 10)), ("green", (10, 200, 10)), ("blue", (10, 10, 230))):
        Image.new("RGB", (64, 48), rgb).save(photos / f"{name}.png")
    db = tmp_path_factory.mktemp("db")
    build_colour_index(photos, db)
    return photos, db


@contextmanager
def serving(
    db: Path, cache: Path, *, roots: list[Path] | None = None, token: str | None = None, **options
) -> Iterator[tuple[str, QueryService]]:
    """``(url, service)`` of a running server; stopped and closed afterwards."""
    service = QueryService.open(db, roots=roots, cache_dir=cache, device="cpu", **options)
    try:
        with BackgroundServer(create_app(service, token=token)) as url:
            yield url, service
    finally:
        service.close()


def wait_until_healthy(url: str, proc: subprocess.Popen, timeout: float) -> None:
    """Poll ``url``'s ``/api/health`` until it answers 200 or ``timeout`` seconds pass; the
    server process must stay alive meanwhile (its stderr, when piped, is the failure's text)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health").status_code == 200:
                return
        except httpx.TransportError:
            assert proc.poll() is None, _stderr(proc)
            time.sleep(0.3)


def _stderr(proc: subprocess.Popen) -> str:
    text = proc.stderr.read() if proc.stderr is not None else ""
    return text.decode() if isinstance(text, bytes) else str(text)
