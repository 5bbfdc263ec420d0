"""The similar-image tool answers an indexed photo from its stored vector: no re-embedding,
no file read (the file is deleted), the photo itself left out; locally and served."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from tests.support.forgotten import forgotten_photo_index
from tests.support.remote import served_remote

import imagevec
from langchain_imagevec import create_image_search_tool, create_similar_image_tool


@pytest.mark.parametrize("served", [False, True], ids=["local", "served"])
def test_similar_tool_uses_the_stored_vector_of_an_indexed_photo(
    photo_dir: Path, tmp_path: Path, served: bool
) -> None:
    photos = sorted(photo_dir.glob("*.jpg"))[:6]
    with contextlib.ExitStack() as stack:
        local, gone, gone_id = stack.enter_context(forgotten_photo_index(photos, tmp_path))
        index: imagevec.SearchIndex = local
        if served:
            index = stack.enter_context(served_remote(local, [gone.parent], tmp_path / "cache"))
        expected = [hit.id for hit in local.search(like=gone_id, k=3)]
        assert len(expected) == 3 and gone_id not in expected
        tool = create_similar_image_tool(index)  # no path_roots: it may read no file at all
        for image in (str(gone), gone_id, f"file://{gone}"):
            rows = json.loads(tool.invoke({"image": image, "k": 3}))
            assert [row["id"] for row in rows] == expected, image
        search = create_image_search_tool(index)
        rows = json.loads(search.invoke({"query": f"like:{gone_id}", "k": 3}))
        assert [row["id"] for row in rows] == expected
