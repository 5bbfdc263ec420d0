"""Agent tools: the standard tool suites, compact JSON results, errors as tool messages."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

import imagevec
from langchain_imagevec import create_image_search_tool, create_similar_image_tool
from langchain_imagevec.tools import DEFAULT_K


class _SearchToolBase:
    @pytest.fixture(autouse=True)
    def _use_index(self, colour_index: imagevec.ImageIndex) -> None:
        self._tool = create_image_search_tool(colour_index)

    @property
    def tool_constructor(self) -> BaseTool:
        return self._tool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"query": "a red picture", "k": 2}


class _SimilarToolBase:
    @pytest.fixture(autouse=True)
    def _use_index(self, colour_index: imagevec.ImageIndex, colour_photos: Path) -> None:
        self._tool = create_similar_image_tool(colour_index)
        self._image = str(colour_photos / "red.png")

    @property
    def tool_constructor(self) -> BaseTool:
        return self._tool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"image": self._image, "k": 2}


class TestImageSearchToolUnit(_SearchToolBase, ToolsUnitTests):
    pass


class TestImageSearchToolIntegration(_SearchToolBase, ToolsIntegrationTests):
    pass


class TestSimilarImageToolUnit(_SimilarToolBase, ToolsUnitTests):
    pass


class TestSimilarImageToolIntegration(_SimilarToolBase, ToolsIntegrationTests):
    pass


def call(tool: BaseTool, **args: Any) -> ToolMessage:
    message = tool.invoke({"name": tool.name, "args": args, "id": "call-1", "type": "tool_call"})
    assert isinstance(message, ToolMessage) and message.tool_call_id == "call-1"
    return message


def test_search_tool_returns_compact_json(colour_index: Any, colour_photos: Path) -> None:
    tool = create_image_search_tool(colour_index)
    message = call(tool, query="something blue", k=2)
    assert message.status == "success"
    assert ": " not in message.content  # compact separators
    results = json.loads(message.content)
    assert len(results) == 2
    top = results[0]
    assert top["uri"] == str(colour_photos / "blue.png")
    assert set(top) == {"rank", "id", "uri", "score", "metadata"} and top["rank"] == 1
    assert top["metadata"] == {
        "album": "cool",
        "caption": "a blue square",
        "filename": "blue.png",
        "format": "PNG",
        "width": 64,
        "height": 48,
    }
    assert 0.0 < top["score"] <= 1.0 and results[1]["score"] <= top["score"]


def test_schemas_describe_every_argument(colour_index: Any) -> None:
    for tool in (create_image_search_tool(colour_index), create_similar_image_tool(colour_index)):
        schema = tool.tool_call_schema.model_json_schema()
        assert tool.description
        for name, field in schema["properties"].items():
            assert field.get("description"), f"{tool.name}.{name} has no description"
        assert schema["properties"]["k"]["maximum"] == imagevec.TOOL_MAX_K


def test_similar_tool_chains_from_a_search_result(colour_index: Any) -> None:
    found = json.loads(create_image_search_tool(colour_index).invoke({"query": "yellow"}))
    uri = found[0]["uri"]
    tool = create_similar_image_tool(colour_index, path_roots=[Path(uri).parent])
    similar = json.loads(tool.invoke({"image": uri, "k": 2}))
    uris = [hit["uri"] for hit in similar]
    assert uri not in uris and len(uris) == 2  # the query photo is not its own result
    assert all(hit["score"] < 0.999 for hit in similar)
    assert "left out" in create_similar_image_tool(colour_index).description


def test_similar_tool_takes_a_data_uri(colour_index: Any, colour_photos: Path) -> None:
    data = base64.b64encode((colour_photos / "green.png").read_bytes()).decode()
    tool = create_similar_image_tool(colour_index)
    result = json.loads(tool.invoke({"image": f"data:image/png;base64,{data}", "k": 1}))
    assert Path(result[0]["uri"]).name == "green.png"


def test_errors_come_back_as_tool_messages(colour_index: Any, tmp_path: Path) -> None:
    similar = create_similar_image_tool(colour_index, path_roots=[tmp_path])
    missing = call(similar, image=str(tmp_path / "nope.jpg"))
    assert missing.status == "error"
    assert "no such file" in json.loads(missing.content)["error"]
    url = call(similar, image="https://example.com/cat.jpg")
    assert url.status == "error" and "URLs are disabled" in json.loads(url.content)["error"]
    search = create_image_search_tool(colour_index)
    assert call(search, query="red", k=imagevec.TOOL_MAX_K).status != "error"
    too_many = call(search, query="red", k=imagevec.TOOL_MAX_K + 1)  # one limit, all tools
    assert "invalid arguments" in json.loads(too_many.content)["error"]
    assert "less than or equal to 50" in json.loads(too_many.content)["error"]
    # plain invoke (no tool call): the JSON error string, not an exception
    assert "error" in json.loads(similar.invoke({"image": str(tmp_path / "nope.jpg")}))


def test_path_roots_limit_what_the_model_can_read(
    colour_index: Any, colour_photos: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes((colour_photos / "red.png").read_bytes())
    tool = create_similar_image_tool(colour_index, path_roots=[colour_photos])
    assert json.loads(tool.invoke({"image": str(colour_photos / "red.png")}))
    refused = call(tool, image=str(outside))
    assert refused.status == "error" and "path_roots" in json.loads(refused.content)["error"]
    # the default: no folder given, no local file read at all (a clear error says how) ...
    closed = call(create_similar_image_tool(colour_index), image=str(outside))
    error = json.loads(closed.content)["error"]
    assert closed.status == "error" and "path_roots=[folder]" in error
    # ... but an indexed photo needs no file read: its stored vector is the query
    known = call(create_similar_image_tool(colour_index), image=str(colour_photos / "red.png"))
    assert known.status == "success" and "red.png" not in known.content


def test_search_tool_takes_the_combined_query_syntax(
    colour_index: Any, colour_photos: Path
) -> None:
    tool = create_image_search_tool(colour_index)
    schema = tool.tool_call_schema.model_json_schema()
    assert imagevec.Query.SYNTAX in tool.description
    assert "like:" in schema["properties"]["query"]["description"]
    red, green = colour_photos / "red.png", colour_photos / "green.png"

    def ids(query: str, **options: Any) -> list[str]:
        return [r["id"] for r in json.loads(tool.invoke({"query": query, **options}))]

    def expected(query: imagevec.Query, k: int = DEFAULT_K) -> list[str]:
        return [hit.id for hit in colour_index.search(query=query, k=k)]

    like = ids(f"like:{red}", k=3)
    assert like == expected(imagevec.Query.like(str(red)), 3) and len(like) == 3
    assert colour_index.search(like=str(red), k=1, include_self=True)[0].id not in like
    combined = imagevec.Query.text("blue") + 3 * imagevec.Query.like(str(red))
    assert ids(f"blue + 3:like:{red}") == expected(combined)
    assert ids("yellow - 0.5:green") == expected(
        imagevec.Query.text("yellow") - 0.5 * imagevec.Query.text("green")
    )
    # image parts are read only under path_roots, like the similar tool's images
    refused = call(tool, query=f"blue + image:{green}")
    assert refused.status == "error" and "path_roots" in json.loads(refused.content)["error"]
    opened = create_image_search_tool(colour_index, path_roots=[colour_photos])
    rows = json.loads(opened.invoke({"query": f"image:{green} - 0.2:red", "k": 1}))
    assert Path(rows[0]["uri"]).name == "green.png"
    bad = call(tool, query="blue + like: ")
    assert bad.status == "error" and "error" in json.loads(bad.content)


def test_fixed_filter_threshold_and_names(colour_index: Any) -> None:
    tool = create_image_search_tool(
        colour_index, name="find_photos", where={"album": "warm"}, score_threshold=0.5
    )
    assert tool.name == "find_photos"
    results = json.loads(tool.invoke({"query": "red", "k": 4}))
    assert [Path(r["uri"]).stem for r in results] == ["red"]
    with pytest.raises(TypeError, match="ImageIndex"):
        create_image_search_tool(object())


async def test_tools_async(colour_index: Any) -> None:
    tool = create_image_search_tool(colour_index)
    result = json.loads(await tool.ainvoke({"query": "green", "k": 1}))
    assert Path(result[0]["uri"]).stem == "green"
