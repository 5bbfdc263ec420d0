"""The LangChain retriever and tool tests again, on a served index (``imagevec.connect``).

Every test of ``test_langchain_retriever`` and ``test_langchain_tools`` is imported and run
with ``colour_index`` replaced by the client of a real server over that same index.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integrations.langchain.test_langchain_retriever import *  # noqa: F403
from tests.integrations.langchain.test_langchain_tools import *  # noqa: F403
from tests.support.remote import served_remote

import imagevec


@pytest.fixture(scope="module")
def colour_index(
    colour_index: imagevec.ImageIndex,
    colour_photos: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[imagevec.RemoteIndex]:
    """The conftest's local index, served; the tests get the remote client."""
    with served_remote(colour_index, [colour_photos], tmp_path_factory.mktemp("cache")) as remote:
        yield remote


def test_the_index_here_is_remote(colour_index: imagevec.RemoteIndex) -> None:
    assert isinstance(colour_index, imagevec.RemoteIndex)
    assert colour_index.count() == 4
