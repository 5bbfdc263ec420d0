"""Real-browser fixtures: Debian's chromium driven by Playwright, a served index of photos.

Playwright's own browser download is never used (it is not reachable offline): the tests
launch ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run`` installs it) and skip
with a clear message when it or the ``playwright`` package is missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("IMAGEVEC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """A headless chromium, for the browser tests only.

    Package scope: Playwright's sync API keeps an event loop running on the main thread while
    it is open, which breaks every later asyncio test (pytest-asyncio's runner refuses to start
    inside a running loop), so it must close when the last browser test is done.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package (pip install playwright)")
    if not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)):
        pytest.skip(f"browser tests need chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the tests save screenshots (printed at the end; look at them)."""
    folder = Path(
        os.environ.get("IMAGEVEC_SCREENSHOTS") or tempfile.mkdtemp(prefix="imagevec-shots-")
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def served_photos(
    photo_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """``(url, photo folder)``: the sample photos as a small library (dated folders, camera
    EXIF with GPS on four photos, a resized copy of ``rocket.jpg``; see
    :mod:`tests.support.photo_library`) indexed with the bundled default encoder (GPS
    coordinates stored), served by a real uvicorn on 127.0.0.1."""
    import imagevec
    from imagevec.serve.app import create_app
    from imagevec.serve.runner import BackgroundServer
    from imagevec.service import QueryService
    from tests.support.photo_library import write_photo_library

    library = write_photo_library(photo_dir, tmp_path_factory.mktemp("library"))
    db = tmp_path_factory.mktemp("browser-db")
    index = imagevec.ImageIndex(db, encoder="default", device="cpu")
    report = index.add(library, exif_gps=True)
    assert report.ok and index.count() >= 21, report.summary()
    service = QueryService(index, roots=[library], cache_dir=tmp_path_factory.mktemp("thumbs"))
    service.warm_up()
    with BackgroundServer(create_app(service)) as url:
        yield url, library
    service.close()
