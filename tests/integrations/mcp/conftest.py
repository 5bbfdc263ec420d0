"""Fixtures for the MCP server tests: a small index of the real sample photos, a live server.

Layout (all under one temporary folder)::

    library/indexed/*.jpg       the sample photos, indexed with ``test-color`` (fast)
    library/new/coffee-edit.jpg an edited copy of coffee.jpg, under the roots, not indexed
    library/escape.jpg          a symlink to outside/secret.jpg (outside the roots)
    outside/secret.jpg          a photo outside the roots
    db/                         the index
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from tests.support.mcp_server import Library, free_port, http_server

import imagevec


@pytest.fixture(scope="session")
def library(photo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Library:
    """The sample photos indexed with the colour encoder, plus files around the roots."""
    root = tmp_path_factory.mktemp("mcp")
    indexed = root / "library" / "indexed"
    indexed.mkdir(parents=True)
    for photo in sorted(photo_dir.glob("*.jpg")):
        shutil.copy(photo, indexed / photo.name)
    new = root / "library" / "new"
    new.mkdir()
    with Image.open(indexed / "coffee.jpg") as img:
        edited = img.convert("RGB").resize((img.width // 2, img.height // 2))
    edited.save(new / "coffee-edit.jpg", quality=80)
    outside = root / "outside"
    outside.mkdir()
    shutil.copy(indexed / "chelsea.jpg", outside / "secret.jpg")
    (root / "library" / "escape.jpg").symlink_to(outside / "secret.jpg")
    db = root / "db"
    with imagevec.ImageIndex(db, encoder="test-color", device="cpu") as index:
        report = index.add(indexed)
        assert report.ok and report.indexed >= 18
        hits = index.search(text="red", k=report.indexed)
    return Library(
        root, root / "library", indexed, new / "coffee-edit.jpg", outside, db,
        {Path(hit.uri).stem: hit.id for hit in hits},
    )  # fmt: skip


@pytest.fixture(scope="session")
def mcp_url(library: Library, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``imagevec mcp --http`` on the library (a subprocess), its URL."""
    log = tmp_path_factory.mktemp("mcp-http") / "server.log"
    cache = tmp_path_factory.mktemp("mcp-http-thumbs")
    args = ("--db", library.db, "--roots", library.library, "--cache-dir", cache)
    with http_server(*args, port=free_port(), log=log) as url:
        yield url
