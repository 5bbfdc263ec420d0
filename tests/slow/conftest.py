"""Fixtures shared by the slow tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.chroma_server import CHROMA, chroma_server


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Chroma server started for the test module on 127.0.0.1 (its URL)."""
    if not CHROMA.exists():
        pytest.skip("the chroma CLI is not installed next to this Python")
    with chroma_server(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url
