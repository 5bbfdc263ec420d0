"""Fixtures for the LangChain integration tests, and async support for the standard suites.

The ``langchain_tests`` standard suites define ``async def`` tests without an asyncio mark;
the hook below marks them (only in this folder) so pytest-asyncio runs them in strict mode.
"""

from __future__ import annotations

import inspect
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

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
