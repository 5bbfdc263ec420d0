"""The LlamaIndex retriever and tool tests again, on a served index (``imagevec.connect``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integrations.llamaindex.test_llamaindex_retriever_tool import *  # noqa: F403
from tests.support.color_encoder import ColorEncoder
from tests.support.remote import served_remote

import imagevec


@pytest.fixture
def index(
    colour_dir: Path, tmp_path: Path, color_encoder_instance: ColorEncoder
) -> Iterator[imagevec.RemoteIndex]:
    """The same index as the local tests (colours, album=test), served; tests get the client."""
    with imagevec.ImageIndex(tmp_path / "db", encoder=color_encoder_instance) as local:
        local.add([colour_dir], metadatas={"album": "test"})
        with served_remote(local, [colour_dir], tmp_path / "cache") as remote:
            yield remote


def test_the_index_here_is_remote(index: imagevec.RemoteIndex) -> None:
    assert isinstance(index, imagevec.RemoteIndex) and index.count() == 3
