"""LlamaIndex agents reach the photo index through ``llama-index-tools-mcp``.

``McpToolSpec`` turns the live server's tools into ``FunctionTool`` objects; a
``FunctionAgent`` driven by LlamaIndex's mock function-calling LLM (with a script: search,
read the results, fetch the best photo) runs one turn against them.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.llms.mock import MockFunctionCallingLLM
from llama_index.tools.mcp import BasicMCPClient, McpToolSpec
from mcp import types
from tests.support.mcp_server import Library, closest, decode

pytestmark = [
    pytest.mark.asyncio,
    # LlamaIndex's tool machinery inspects pydantic models through deprecated attributes.
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning"),
]

_ID = re.compile(r'\\?"id\\?":\\?"([0-9a-f]{32})')


def script(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
    """Search for 'green', then fetch the first result, then answer."""
    results = [m for m in messages if m.role == MessageRole.TOOL]
    if not results:
        call = ToolCallBlock(
            tool_call_id="c0", tool_name="search_photos", tool_kwargs={"query": "green", "k": 3}
        )
    elif len(results) == 1:
        best = _ID.search(str(results[0].content))
        assert best, results[0].content
        call = ToolCallBlock(
            tool_call_id="c1",
            tool_name="get_photo",
            tool_kwargs={"id": best.group(1), "max_size": 200},
        )
    else:
        return ChatMessage(role=MessageRole.ASSISTANT, content="Here it is.")
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=[call])


async def test_mcp_tool_spec_tools_are_callable(mcp_url: str, library: Library) -> None:
    tools = await McpToolSpec(client=BasicMCPClient(mcp_url)).to_tool_list_async()
    by_name = {tool.metadata.name: tool for tool in tools}
    assert set(by_name) == {
        "search_photos",
        "find_similar_photos",
        "get_photo",
        "describe_photo_index",
    }
    output = await by_name["find_similar_photos"].acall(image=str(library.new_photo), k=2)
    result = output.raw_output
    assert isinstance(result, types.CallToolResult) and not result.isError
    assert Path(json.loads(result.content[0].text)["results"][0]["uri"]).stem == "coffee"
    bad = (await by_name["get_photo"].acall(id="../secret")).raw_output
    assert bad.isError and "'..' is not allowed" in bad.content[0].text


async def test_function_agent_searches_then_fetches_the_photo(
    mcp_url: str, library: Library
) -> None:
    tools = await McpToolSpec(client=BasicMCPClient(mcp_url)).to_tool_list_async()
    agent = FunctionAgent(tools=tools, llm=MockFunctionCallingLLM(response_generator=script))
    handler = agent.run("Find my greenest photo and show it to me.")
    calls = [event async for event in handler.stream_events() if isinstance(event, ToolCallResult)]
    answer = await handler

    assert [c.tool_name for c in calls] == ["search_photos", "get_photo"]
    found = calls[0].tool_output.raw_output
    best = json.loads(found.content[0].text)["results"][0]
    photo = calls[1].tool_output.raw_output
    assert calls[1].tool_kwargs["id"] == best["id"]
    image = next(b for b in photo.content if isinstance(b, types.ImageContent))
    picture = decode(base64.b64decode(image.data))
    assert max(picture.size) <= 200
    assert closest(picture, library.indexed) == Path(best["uri"]).stem
    assert "Here it is." in str(answer)
