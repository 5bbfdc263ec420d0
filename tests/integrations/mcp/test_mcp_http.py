"""``imagevec mcp --http``: streamable HTTP on 127.0.0.1, the SDK's client, and the guards."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from tests.support.mcp_server import INITIALIZE, Library, closest, decode

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]  # server processes

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_sdk_client_searches_and_sees_a_photo_over_http(
    mcp_url: str, library: Library
) -> None:
    async with (
        streamable_http_client(mcp_url) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = {tool.name for tool in (await session.list_tools()).tools}
        found = await session.call_tool("search_photos", {"query": "blue", "k": 2})
        photo = await session.call_tool("get_photo", {"id": library.ids["rocket"], "max_size": 256})
    assert "search_photos" in tools
    assert not found.isError
    assert len(json.loads(found.content[0].text)["results"]) == 2
    image = next(b for b in photo.content if isinstance(b, types.ImageContent))
    picture = decode(base64.b64decode(image.data))
    assert max(picture.size) == 256
    assert closest(picture, library.indexed) == "rocket"


async def test_another_host_or_origin_is_refused(mcp_url: str) -> None:
    port = httpx.URL(mcp_url).port
    async with httpx.AsyncClient() as http:
        ok = await http.post(mcp_url, json=INITIALIZE, headers=HEADERS)
        rebound = await http.post(
            mcp_url, json=INITIALIZE, headers={**HEADERS, "Host": f"evil.example:{port}"}
        )
        foreign = await http.post(
            mcp_url, json=INITIALIZE, headers={**HEADERS, "Origin": "http://evil.example"}
        )
    assert ok.status_code == 200
    assert rebound.status_code == 421
    assert foreign.status_code == 403
