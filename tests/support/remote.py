"""Serve a local test index and hand out its remote client (``imagevec.connect``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import imagevec
from imagevec.serve.app import create_app
from imagevec.serve.runner import BackgroundServer
from imagevec.service import QueryService


@contextmanager
def served_remote(
    index: imagevec.ImageIndex, roots: list[Path], cache: Path
) -> Iterator[imagevec.RemoteIndex]:
    """A real uvicorn on 127.0.0.1 over ``index``; yields the client. The index stays open."""
    service = QueryService(index, roots=roots, cache_dir=cache)
    with BackgroundServer(create_app(service)) as url:
        remote = imagevec.connect(url)
        try:
            yield remote
        finally:
            remote.close()
