"""``imagevec mcp`` over stdio, driven by the MCP Python SDK's own client (as desktop apps do).

One server process for the whole conversation: list the tools, call each one, read the
image content back as the right photo, get errors as tool errors, read resources.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from tests.support.mcp_server import REPO, Library, closest, command, decode, environment

pytestmark = pytest.mark.asyncio


def _json(result: types.CallToolResult) -> dict:
    assert not result.isError, result.content
    assert isinstance(result.content[0], types.TextContent)
    return json.loads(result.content[0].text)


@pytest.mark.slow  # a server process
async def test_a_conversation_over_stdio(library: Library, tmp_path: Path) -> None:
    argv = command("--db", library.db, "--roots", library.library, "--cache-dir", tmp_path)
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=environment(), cwd=str(REPO))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        assert init.serverInfo.name == "imagevec"
        assert "describe_photo_index" in (init.instructions or "")

        names = {tool.name for tool in (await session.list_tools()).tools}
        assert names == {
            "search_photos",
            "find_similar_photos",
            "get_photo",
            "describe_photo_index",
        }

        described = _json(await session.call_tool("describe_photo_index", {}))
        assert described["photos"] == len(library.ids)

        found = _json(await session.call_tool("search_photos", {"query": "red", "k": 3}))
        assert [r["rank"] for r in found["results"]] == [1, 2, 3]
        assert all(r["id"] in library.ids.values() for r in found["results"])

        similar = _json(
            await session.call_tool("find_similar_photos", {"image": str(library.new_photo)})
        )
        assert Path(similar["results"][0]["uri"]).stem == "coffee"

        photo = await session.call_tool("get_photo", {"id": library.ids["astronaut"]})
        assert not photo.isError
        image = next(b for b in photo.content if isinstance(b, types.ImageContent))
        assert image.mimeType == "image/jpeg"
        assert closest(decode(base64.b64decode(image.data)), library.indexed) == "astronaut"

        bad = await session.call_tool("search_photos", {"query": "cat", "k": 1000})
        assert bad.isError and "k:" in bad.content[0].text
        missing = await session.call_tool("get_photo", {"id": "0" * 32})
        assert missing.isError and "not indexed" in missing.content[0].text
        outside = await session.call_tool(
            "find_similar_photos", {"image": str(library.outside / "secret.jpg")}
        )
        assert outside.isError and "outside the allowed" in outside.content[0].text

        listed = await session.list_resources()
        photo_uri = next(r.uri for r in listed.resources if r.name == "horse.jpg")
        read = await session.read_resource(photo_uri)
        blob = read.contents[0]
        assert isinstance(blob, types.BlobResourceContents)
        assert closest(decode(base64.b64decode(blob.blob)), library.indexed) == "horse"

        # Still serving after the errors.
        again = _json(await session.call_tool("search_photos", {"query": "red", "k": 3}))
        assert again["results"] == found["results"]
