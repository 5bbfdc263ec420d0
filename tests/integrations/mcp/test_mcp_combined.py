"""MCP tools take combined queries, and answer an indexed example from its stored vector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integrations.mcp.test_mcp_server import client, error_text, payload
from tests.support.forgotten import forgotten_photo_index
from tests.support.mcp_server import Library

import imagevec
from imagevec import Query
from imagevec.service import QueryService

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def service(library: Library, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueryService]:
    index = imagevec.ImageIndex(library.db, device="cpu")
    cache = tmp_path_factory.mktemp("thumbs")
    with QueryService(index, roots=[library.library], cache_dir=cache) as svc:
        yield svc


def ids(data: dict) -> list[str]:
    return [row["id"] for row in data["results"]]


async def test_search_photos_takes_the_combined_query_syntax(
    service: QueryService, library: Library
) -> None:
    coffee = library.ids["coffee"]
    indexed = str(library.indexed / "coffee.jpg")
    new = str(library.new_photo)
    queries = {
        f"like:{coffee}": Query.like(coffee),
        f"2:red + like:imagevec://photo/{coffee}": 2 * Query.text("red") + Query.like(coffee),
        f"image:{indexed} - 0.5:blue": Query.like(coffee) - 0.5 * Query.text("blue"),
        f"image:{new} - 0.5:red": Query.image(new) - 0.5 * Query.text("red"),
    }
    async with client(service) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        results = {
            text: payload(await session.call_tool("search_photos", {"query": text, "k": 4}))
            for text in queries
        }
        plain = payload(await session.call_tool("search_photos", {"query": "red", "k": 2}))
        outside = await session.call_tool(
            "search_photos", {"query": f"red + image:{library.outside / 'secret.jpg'}"}
        )
        empty = await session.call_tool("search_photos", {"query": "red + like: "})
    assert "like:" in (tools["search_photos"].description or "")
    assert "like:" in tools["search_photos"].inputSchema["properties"]["query"]["description"]
    for text, query in queries.items():
        assert ids(results[text]) == [hit.id for hit in service.search(query=query, k=4)], text
        assert results[text]["query"] == {"query": text}
    assert coffee not in ids(results[f"like:{coffee}"])  # the liked photo is left out
    assert coffee not in ids(results[f"image:{indexed} - 0.5:blue"])  # indexed: like
    assert ids(results[f"image:{new} - 0.5:red"])[0] == coffee  # a new picture: read
    assert plain["query"] == {"text": "red"}
    assert "outside the allowed" in error_text(outside)
    assert "no value" in error_text(empty)


async def test_similar_photos_of_an_indexed_photo_need_neither_file_nor_encoder(
    photo_dir: Path, tmp_path: Path
) -> None:
    photos = sorted(photo_dir.glob("*.jpg"))[:6]
    with forgotten_photo_index(photos, tmp_path / "forgotten") as (index, gone, gone_id):
        expected = [hit.id for hit in index.search(like=gone_id, k=3)]
        service = QueryService(index, roots=[gone.parent], cache_dir=tmp_path / "cache")
        async with client(service) as session:
            answers = [
                payload(await session.call_tool("find_similar_photos", {"image": ref, "k": 3}))
                for ref in (gone_id, f"imagevec://photo/{gone_id}", str(gone))
            ]
            combined = payload(
                await session.call_tool("search_photos", {"query": f"like:{gone}", "k": 3})
            )
    assert len(expected) == 3 and gone_id not in expected
    for data in (*answers, combined):
        assert ids(data) == expected
    assert answers[2]["query"] == {"like": gone_id}
