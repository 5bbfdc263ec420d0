"""Fixtures for the LangChain integration tests, and async support for the standard suites.

The ``langchain_tests`` standard suites define ``async def`` tests without an asyncio mark;
the hook below marks them (only in this folder) so pytest-asyncio runs them in strict mode.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import imagevec
from langchain_imagevec import ImagevecEmbeddings


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Collector, name: str, obj: object
) -> Generator[None, Any, Any]:
    result = yield
    items = result if isinstance(result, list) else [result]
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.asyncio)
    return result


@pytest.fixture
def colour_embeddings(color_encoder_instance: Any) -> ImagevecEmbeddings:
    """Embeddings over the small colour encoder (``test-color``), already loaded."""
    return ImagevecEmbeddings(encoder=color_encoder_instance, batch_size=2)


@pytest.fixture
def colour_paths(colour_dir: Path) -> list[str]:
    """The red, green and blue pictures, in that order."""
    return [str(colour_dir / f"{name}.png") for name in ("red", "green", "blue")]


COLOURS = {
    "red": (220, 10, 10),
    "green": (10, 200, 10),
    "blue": (10, 10, 230),
    "yellow": (230, 230, 0),
}


@pytest.fixture(scope="module")
def colour_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four solid-colour PNGs (red, green, blue, yellow)."""
    folder = tmp_path_factory.mktemp("colour-photos")
    for name, rgb in COLOURS.items():
        Image.new("RGB", (64, 48), rgb).save(folder / f"{name}.png")
    return folder


@pytest.fixture(scope="module")
def colour_index(
    tmp_path_factory: pytest.TempPathFactory, colour_photos: Path, color_encoder_instance: Any
) -> Iterator[imagevec.ImageIndex]:
    """An ImageIndex (test-color encoder) of the four colour PNGs, with a caption and an album."""
    db = tmp_path_factory.mktemp("colour-db")
    index = imagevec.ImageIndex(db, collection="colours", encoder=color_encoder_instance)
    report = index.add(
        colour_photos,
        metadatas=lambda path: {
            "caption": f"a {Path(path).stem} square",
            "album": "warm" if Path(path).stem in ("red", "yellow") else "cool",
        },
    )
    assert report.ok and index.count() == 4, report.summary()
    yield index
    index.close()
