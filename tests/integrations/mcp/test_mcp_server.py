"""The MCP server in-process (the SDK's client over memory streams): tools, errors, resources.

Fast checks of every argument rule and cap; the subprocess transports are tested in
test_mcp_stdio.py and test_mcp_http.py.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, types
from mcp.shared.exceptions import McpError
from mcp.shared.memory import create_connected_server_and_client_session
from tests.support.mcp_server import Library, closest, decode, difference

import imagevec
from imagevec.mcp import INDEX_URI, McpOptions, build_server
from imagevec.service import QueryService

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def service(library: Library, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QueryService]:
    index = imagevec.ImageIndex(library.db, device="cpu")
    cache = tmp_path_factory.mktemp("thumbs")
    with QueryService(index, roots=[library.library], cache_dir=cache) as svc:
        yield svc


@contextlib.asynccontextmanager
async def client(service: QueryService, **options: Any) -> AsyncIterator[ClientSession]:
    server = build_server(service, McpOptions(**options))
    async with create_connected_server_and_client_session(server) as session:
        yield session


def payload(result: types.CallToolResult) -> dict[str, Any]:
    assert not result.isError, result.content
    first = result.content[0]
    assert isinstance(first, types.TextContent)
    return json.loads(first.text)


def error_text(result: types.CallToolResult) -> str:
    assert result.isError
    first = result.content[0]
    assert isinstance(first, types.TextContent)
    return first.text


def images(result: types.CallToolResult) -> list[bytes]:
    return [
        base64.b64decode(block.data)
        for block in result.content
        if isinstance(block, types.ImageContent)
    ]


async def test_tools_are_listed_read_only_with_model_facing_schemas(
    service: QueryService,
) -> None:
    async with client(service) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == {
        "search_photos",
        "find_similar_photos",
        "get_photo",
        "describe_photo_index",
    }
    for tool in tools.values():
        assert tool.annotations and tool.annotations.readOnlyHint
        assert tool.annotations.destructiveHint is False
        assert len(tool.description or "") > 80
        assert tool.inputSchema["additionalProperties"] is False
    search = tools["search_photos"].inputSchema
    assert search["required"] == ["query"]
    assert (
        search["properties"]["k"]["maximum"] == imagevec.TOOL_MAX_K == 50
    )  # one limit for every tool
    assert "description" in search["properties"]["where"]


async def test_search_returns_the_services_hits_as_compact_json(
    service: QueryService, library: Library
) -> None:
    async with client(service) as session:
        result = await session.call_tool("search_photos", {"query": "something red", "k": 4})
    data = payload(result)
    expected = service.search(text="something red", k=4)
    assert [r["id"] for r in data["results"]] == [hit.id for hit in expected]
    assert [r["rank"] for r in data["results"]] == [1, 2, 3, 4]
    top = data["results"][0]
    assert top["resource"] == f"imagevec://photo/{top['id']}"
    assert Path(top["uri"]).parent == library.indexed
    assert top["score"] == pytest.approx(expected[0].score, abs=1e-4)
    assert {"filename", "width", "height", "format"} <= set(top)
    assert not {"sha256", "mtime_ns", "bytes"} & set(top)
    assert not images(result)  # no thumbnails unless asked
    assert ": " not in result.content[0].text  # compact


async def test_thumbnails_come_as_small_images_in_result_order(
    service: QueryService, library: Library
) -> None:
    async with client(service, thumbnail_size=128, max_thumbnails=3) as session:
        result = await session.call_tool(
            "search_photos", {"query": "blue", "k": 5, "thumbnails": True}
        )
    data = payload(result)
    pictures = images(result)
    assert data["thumbnails"]["ids"] == [r["id"] for r in data["results"][:3]]
    assert len(pictures) == 3
    for picture, record in zip(pictures, data["results"], strict=False):
        image = decode(picture)
        assert max(image.size) <= 128
        assert closest(image, library.indexed) == Path(record["uri"]).stem


async def test_get_photo_is_image_content_of_that_photo_within_the_caps(
    service: QueryService, library: Library
) -> None:
    id_ = library.ids["chelsea"]
    async with client(service, max_image_side=300, max_image_bytes=12_000) as session:
        result = await session.call_tool("get_photo", {"id": id_, "max_size": 2000})
        by_uri = await session.call_tool("get_photo", {"id": f"imagevec://photo/{id_}"})
    info = payload(result)
    assert info["id"] == id_ and Path(info["uri"]).stem == "chelsea"
    (data,) = images(result)
    assert len(data) <= 12_000
    picture = decode(data)
    assert max(picture.size) <= 300
    assert difference(picture, library.indexed / "chelsea.jpg") < 12
    assert closest(picture, library.indexed) == "chelsea"
    assert not by_uri.isError


async def test_similar_by_id_path_and_data_uri(service: QueryService, library: Library) -> None:
    coffee = library.ids["coffee"]
    data_uri = "data:image/jpeg;base64," + base64.b64encode(library.new_photo.read_bytes()).decode()
    async with client(service) as session:
        by_id = payload(await session.call_tool("find_similar_photos", {"image": coffee}))
        by_indexed_path = payload(
            await session.call_tool(
                "find_similar_photos", {"image": str(library.indexed / "coffee.jpg"), "k": 3}
            )
        )
        by_new_path = payload(
            await session.call_tool("find_similar_photos", {"image": str(library.new_photo)})
        )
        by_data = payload(await session.call_tool("find_similar_photos", {"image": data_uri}))
    assert coffee not in [r["id"] for r in by_id["results"]]  # the example itself left out
    assert by_id["results"][0]["id"] == service.search(like=coffee, k=1)[0].id
    assert by_indexed_path["query"] == {"like": coffee}
    assert by_new_path["results"][0]["id"] == coffee
    assert by_data["results"][0]["id"] == coffee


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("search_photos", {"query": ""}, "query"),
        ("search_photos", {"query": "cat", "k": 0}, "k"),
        ("search_photos", {"query": "cat", "k": 500}, "k"),
        ("search_photos", {"query": "cat", "k": "many"}, "k"),
        ("search_photos", {"query": "cat", "colour": "red"}, "colour"),
        ("search_photos", {"query": "cat", "where": {"width": {"$bogus": 1}}}, "where operator"),
        ("search_photos", {"k": 3}, "query"),
        ("get_photo", {"id": "0" * 32}, "is not indexed"),
        ("get_photo", {"id": "../../etc/passwd"}, "'..' is not allowed"),
        ("get_photo", {"id": "/etc/passwd"}, "not a photo id"),
        ("find_similar_photos", {"image": "http://example.com/cat.jpg"}, "URLs"),
        ("find_similar_photos", {"image": "ftp://example.com/cat.jpg"}, "not supported"),
        ("find_similar_photos", {"image": "file:///etc/passwd"}, "not supported"),
        ("find_similar_photos", {"image": "data:image/png;base64,AAAA"}, "cannot load"),
        ("find_similar_photos", {"image": "data:text/plain,hello"}, "not an image"),
        ("nonexistent_tool", {}, "unknown tool"),
    ],
)
async def test_bad_arguments_are_tool_errors_that_say_what_is_wrong(
    service: QueryService, tool: str, arguments: dict[str, Any], message: str
) -> None:
    async with client(service) as session:
        result = await session.call_tool(tool, arguments)
        assert message.lower() in error_text(result).lower()
        assert not (await session.call_tool("describe_photo_index", {})).isError  # still up


async def test_paths_are_confined_to_the_roots(service: QueryService, library: Library) -> None:
    escape = library.library / "escape.jpg"  # symlink to a file outside the roots
    dotdot = library.library / "new" / ".." / ".." / "outside" / "secret.jpg"
    async with client(service) as session:
        outside = await session.call_tool(
            "find_similar_photos", {"image": str(library.outside / "secret.jpg")}
        )
        symlink = await session.call_tool("find_similar_photos", {"image": str(escape)})
        parent = await session.call_tool("find_similar_photos", {"image": str(dotdot)})
    assert "outside the allowed" in error_text(outside)
    assert "outside the allowed" in error_text(symlink)
    assert "'..' is not allowed" in error_text(parent)


async def test_without_roots_no_file_is_read_but_ids_work(library: Library, tmp_path: Path) -> None:
    index = imagevec.ImageIndex(library.db, device="cpu")
    with QueryService(index, roots=None, cache_dir=tmp_path) as closed:
        async with client(closed) as session:
            new = await session.call_tool("find_similar_photos", {"image": str(library.new_photo)})
            known = await session.call_tool(
                "find_similar_photos", {"image": library.ids["coffee"], "k": 2}
            )
    assert "--roots" in error_text(new)
    assert len(payload(known)["results"]) == 2


async def test_describe_says_encoder_count_fields_and_query_advice(
    service: QueryService,
) -> None:
    async with client(service) as session:
        data = payload(await session.call_tool("describe_photo_index", {}))
    assert data["photos"] == service.info()["count"] >= 18
    assert data["encoder"]["model"] == "test-color"
    assert data["metadata_fields"][:4] == ["filename", "width", "height", "format"]
    assert data["text_search_available"] is True
    assert data["encoder"]["modalities"] == ["image", "text"]
    assert data["limits"]["max_image_side"] == 1024 and data["limits"]["allow_urls"] is False


async def test_photos_are_resources_listed_by_page_and_readable_as_images(
    service: QueryService, library: Library
) -> None:
    async with client(service, resource_page=7, max_image_side=200) as session:
        templates = (await session.list_resource_templates()).resourceTemplates
        seen: list[types.Resource] = []
        cursor = None
        while True:
            page = await session.list_resources(cursor)
            seen.extend(page.resources)
            cursor = page.nextCursor
            if cursor is None:
                break
        photo = next(r for r in seen if r.name == "moon.jpg")
        read = await session.read_resource(photo.uri)
        index = await session.read_resource(types.AnyUrl(INDEX_URI))
        with pytest.raises(McpError, match="is not indexed"):
            await session.read_resource(types.AnyUrl("imagevec://photo/" + "f" * 32))
        with pytest.raises(McpError, match="unknown resource"):
            await session.read_resource(types.AnyUrl("imagevec://elsewhere/x"))
    assert templates[0].uriTemplate == "imagevec://photo/{id}"
    photos = [r for r in seen if str(r.uri).startswith("imagevec://photo/")]
    assert len(photos) == len(library.ids)  # every photo once, over several pages
    assert {str(r.uri) for r in photos} == {f"imagevec://photo/{i}" for i in library.ids.values()}
    (content,) = read.contents
    assert isinstance(content, types.BlobResourceContents)
    assert content.mimeType == "image/jpeg"
    picture = decode(base64.b64decode(content.blob))
    assert max(picture.size) <= 200
    assert closest(picture, library.indexed) == "moon"
    assert json.loads(index.contents[0].text)["encoder"]["model"] == "test-color"


async def test_filters_and_folders_narrow_the_results(
    service: QueryService, library: Library
) -> None:
    png = {"format": "PNG"}  # the library holds JPEGs only
    async with client(service) as session:
        none = payload(await session.call_tool("search_photos", {"query": "red", "where": png}))
        as_text = payload(
            await session.call_tool(
                "search_photos", {"query": "red", "k": 3, "where": '{"format": "JPEG"}'}
            )
        )
        elsewhere = payload(
            await session.call_tool(
                "search_photos", {"query": "red", "folder": str(library.outside)}
            )
        )
    assert none["count"] == 0 and none["results"] == []
    assert [r["format"] for r in as_text["results"]] == ["JPEG"] * 3
    assert elsewhere["count"] == 0


async def test_urls_only_when_allowed_and_then_never_private(service: QueryService) -> None:
    url = "http://127.0.0.1:9/photo.jpg"
    async with client(service) as session:
        off = await session.call_tool("find_similar_photos", {"image": url})
    async with client(service, allow_urls=True) as session:
        private = await session.call_tool("find_similar_photos", {"image": url})
    assert "--allow-urls" in error_text(off)
    assert "refused to prevent" in error_text(private)
