"""A real uvicorn server on 127.0.0.1 over a colour-encoder index, for API and client tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import imagevec
from imagevec.serve.app import create_app
from imagevec.serve.runner import BackgroundServer
from imagevec.service import QueryService


def build_colour_index(photos: Path, db: Path) -> None:
    """Index ``photos`` with the colour encoder into ``db``."""
    with imagevec.ImageIndex(db, encoder="test-color") as index:
        index.add(photos)


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
