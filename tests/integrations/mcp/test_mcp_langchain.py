"""LangChain agents reach the photo index through ``langchain-mcp-adapters``.

The tools come from the live ``imagevec mcp --http`` server; a scripted tool-calling chat
model plays the model's part in a ``langchain.agents.create_agent`` agent: it searches, reads
the results, then asks for the top photo, which comes back as an image block.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_mcp_adapters.client import MultiServerMCPClient
from tests.support.mcp_server import Library, closest, decode

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]  # a LangChain agent over an MCP session


def blocks(message: ToolMessage) -> list[dict[str, Any]]:
    content = message.content
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def text_of(message: ToolMessage) -> str:
    return "".join(b.get("text", "") for b in blocks(message) if b.get("type") == "text")


class ScriptedChatModel(BaseChatModel):
    """A tool-calling chat model that follows a script: search, look at the best, answer."""

    query: str = "red"

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        results = [m for m in messages if isinstance(m, ToolMessage)]
        if not results:
            call = {"name": "search_photos", "args": {"query": self.query, "k": 3}}
        elif len(results) == 1:
            best = json.loads(text_of(results[0]))["results"][0]["id"]
            call = {"name": "get_photo", "args": {"id": best, "max_size": 256}}
        else:
            return _result(AIMessage(content="Here is the best match."))
        tool_call = {**call, "id": f"call-{len(results)}", "type": "tool_call"}
        return _result(AIMessage(content="", tool_calls=[tool_call]))


def _result(message: AIMessage) -> ChatResult:
    return ChatResult(generations=[ChatGeneration(message=message)])


async def test_agent_searches_then_sees_the_photo(mcp_url: str, library: Library) -> None:
    client = MultiServerMCPClient({"photos": {"transport": "streamable_http", "url": mcp_url}})
    tools = await client.get_tools()
    assert {t.name for t in tools} >= {"search_photos", "get_photo", "find_similar_photos"}
    agent = create_agent(ScriptedChatModel(), tools)
    state = await agent.ainvoke({"messages": [HumanMessage("Show me my reddest photo.")]})

    searched, fetched = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert searched.name == "search_photos" and searched.status == "success"
    best = json.loads(text_of(searched))["results"][0]
    assert fetched.name == "get_photo" and fetched.status == "success"
    (image,) = [b for b in blocks(fetched) if b["type"] == "image"]
    assert image["mime_type"] == "image/jpeg"
    assert (
        closest(decode(base64.b64decode(image["base64"])), library.indexed)
        == Path(best["uri"]).stem
    )
    assert state["messages"][-1].content == "Here is the best match."


async def test_a_bad_call_reaches_the_model_as_an_error_message(mcp_url: str) -> None:
    client = MultiServerMCPClient({"photos": {"transport": "streamable_http", "url": mcp_url}})
    search = next(t for t in await client.get_tools() if t.name == "search_photos")
    message = await search.ainvoke(
        {"name": "search_photos", "args": {"query": "cat", "k": 0}, "id": "c1", "type": "tool_call"}
    )
    assert isinstance(message, ToolMessage)
    assert message.status == "error"
    assert "k:" in text_of(message)
