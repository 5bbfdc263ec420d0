"""An agent that searches your photos with imagevec tools: the tool-calling loop, offline.

The tools: ``image_search`` (words -> photos) and ``similar_images`` (a photo -> photos that
look like it). Results are compact JSON; errors come back to the model as tool messages.

The loop below is what every agent framework runs: the model answers with tool calls, we run
the tools and append their ``ToolMessage``s, until the model answers in words. Offline, a
scripted model plays the LLM; with a real one nothing else changes:

    from langchain_openai import ChatOpenAI          # pip install langchain-openai
    model = ChatOpenAI(model="gpt-4o-mini")
    from langchain_ollama import ChatOllama          # a local model with tool calling
    model = ChatOllama(model="llama3.1")

With LangChain v1 / LangGraph installed, ``create_agent(model, tools)`` (``langchain.agents``)
or ``create_react_agent(model, tools)`` (``langgraph.prebuilt``) runs the same loop for you.

    python examples/langchain_agent.py
    python examples/langchain_agent.py --photos ~/Photos "Find a cat, then photos like it"
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool

import imagevec
from langchain_imagevec import create_image_search_tool, create_similar_image_tool

SYSTEM = "You help the user find photos. Use the tools; cite photos by their uri."


class ScriptedToolModel(BaseChatModel):
    """A stand-in for a tool-calling LLM: search by the question, then by the best photo."""

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-caller"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:
        return self  # a real model would send the tools' JSON schemas to the API here

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        tool_results = [m for m in messages if isinstance(m, ToolMessage)]
        if not tool_results:
            question = next(m for m in messages if isinstance(m, HumanMessage)).content
            reply = self._call("image_search", {"query": question, "k": 3}, 1)
        elif len(tool_results) == 1 and tool_results[0].status == "success":
            best = json.loads(tool_results[0].content)[0]["uri"]
            reply = self._call("similar_images", {"image": best, "k": 3}, 2)
        else:
            found = [json.loads(m.content) for m in tool_results]
            reply = AIMessage(f"Here is what the tools returned: {json.dumps(found)[:600]}")
        return ChatResult(generations=[ChatGeneration(message=reply)])

    @staticmethod
    def _call(name: str, args: dict[str, Any], number: int) -> AIMessage:
        return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call_{number}"}])


def run_agent(
    model: BaseChatModel, tools: Sequence[BaseTool], question: str, *, max_steps: int = 6
) -> list[BaseMessage]:
    """The agent loop: call the model, run the tools it asks for, repeat until it answers."""
    by_name = {tool.name: tool for tool in tools}
    llm = model.bind_tools(tools)
    messages: list[BaseMessage] = [SystemMessage(SYSTEM), HumanMessage(question)]
    for _ in range(max_steps):
        ai = llm.invoke(messages)
        messages.append(ai)
        if not ai.tool_calls:
            break
        for call in ai.tool_calls:  # a ToolMessage each, errors included
            messages.append(by_name[call["name"]].invoke(call))
    return messages


def main(argv: list[str] | None = None, *, encoder: Any = "default") -> list[BaseMessage]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="a cat")
    parser.add_argument("--photos", help="a folder of photos (default: the sample photos)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        photos = args.photos
        if photos is None:
            from imagevec.samples import write_sample_photos  # pip install "imagevec[samples]"

            photos = Path(tmp) / "photos"
            write_sample_photos(photos)
        with imagevec.ImageIndex(Path(tmp) / "db", collection="photos", encoder=encoder) as index:
            print(index.add(photos).summary())
            tools = [
                create_image_search_tool(index),
                create_similar_image_tool(index, path_roots=[photos]),  # reads only there
            ]
            messages = run_agent(ScriptedToolModel(), tools, args.question)
    for message in messages:
        calls = getattr(message, "tool_calls", None)
        text = json.dumps(calls) if calls else str(message.content)
        print(f"--- {message.type}: {text[:400]}")
    return messages


if __name__ == "__main__":
    main()
