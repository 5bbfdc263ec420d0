"""ImagevecRetriever and create_image_search_tool over a real imagevec.ImageIndex."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import ImageNode, QueryBundle
from llama_index.core.tools import FunctionTool
from PIL import Image
from tests.support.color_encoder import ColorEncoder
from tests.support.forgotten import forgotten_photo_index

import imagevec
from llama_index.retrievers.imagevec import ImagevecRetriever
from llama_index.tools.imagevec import create_image_search_tool


@pytest.fixture
def index(
    colour_dir: Path, tmp_path: Path, color_encoder_instance: ColorEncoder
) -> Iterator[imagevec.ImageIndex]:
    """The red, green and blue pictures in an ImageIndex (colour encoder), album=test."""
    with imagevec.ImageIndex(tmp_path / "db", encoder=color_encoder_instance) as image_index:
        report = image_index.add([colour_dir], metadatas={"album": "test"})
        assert image_index.count() == 3, report
        yield image_index


def _name(hit: object) -> str:
    return Path(hit.node.image_path).name  # type: ignore[attr-defined]


def test_text_query_returns_image_nodes_with_cosine_scores(
    index: imagevec.ImageIndex, colour_dir: Path, color_encoder_instance: ColorEncoder
) -> None:
    retriever = ImagevecRetriever(index, k=3)
    hits = retriever.retrieve("red")
    assert _name(hits[0]) == "red.png" and len(hits) == 3
    node = hits[0].node
    assert isinstance(node, ImageNode)
    assert node.image is None and node.image_url is None  # points at the file, no base64
    assert node.metadata["album"] == "test" and node.metadata["uri"] == node.image_path
    encoder = color_encoder_instance  # the index's encoder
    query = encoder.embed_text("red")
    for hit in hits:
        true = float(encoder.embed_image(hit.node.image_path) @ query)
        assert hit.score == pytest.approx(true, abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_image_queries_of_every_kind(index: imagevec.ImageIndex, colour_dir: Path) -> None:
    retriever = ImagevecRetriever(index, k=2)
    blue = colour_dir / "blue.png"
    uri = "data:image/png;base64," + base64.b64encode(blue.read_bytes()).decode()
    with Image.open(blue) as opened:
        picture = opened.copy()
    bundles = [
        retriever.retrieve(QueryBundle(query_str="", image_path=str(blue))),
        retriever.retrieve(QueryBundle(query_str="text is ignored", image_path=str(blue))),
        retriever.retrieve(uri),
        retriever.retrieve_image(str(blue)),
        retriever.retrieve_image(picture),
        retriever.retrieve_image(np.asarray(picture)),
        asyncio.run(retriever.aretrieve(QueryBundle(query_str="", image_path=str(blue)))),
    ]
    for hits in bundles:
        assert _name(hits[0]) == "blue.png"
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)


def test_filters_urls_and_bad_input(index: imagevec.ImageIndex, messy_dir: Path) -> None:
    assert ImagevecRetriever(index, where={"album": "other"}).retrieve("red") == []
    with pytest.raises(imagevec.UnsafeSourceError):
        ImagevecRetriever(index).retrieve_image("https://example.com/cat.jpg")
    with pytest.raises(imagevec.ImageLoadError, match=r"corrupt\.jpg"):
        ImagevecRetriever(index).retrieve_image(str(messy_dir / "corrupt.jpg"))
    with pytest.raises(imagevec.ConfigError):
        ImagevecRetriever(index).retrieve("   ")
    with pytest.raises(imagevec.ConfigError):
        ImagevecRetriever("not an index")  # type: ignore[arg-type]


def test_async_text_retrieve(index: imagevec.ImageIndex) -> None:
    hits = asyncio.run(ImagevecRetriever(index, k=1).aretrieve("green"))
    assert [_name(h) for h in hits] == ["green.png"]


def test_tool_returns_json_hits(index: imagevec.ImageIndex) -> None:
    tool = create_image_search_tool(index, k=2)
    assert isinstance(tool, FunctionTool)
    assert tool.metadata.name == "image_search"
    assert "cosine similarity" in tool.metadata.description
    schema = tool.metadata.get_parameters_dict()
    assert set(schema["properties"]) == {"query", "k"} and schema["required"] == ["query"]
    output = tool.call(query="a red picture")
    rows = json.loads(output.content)
    assert rows == output.raw_output and len(rows) == 2
    assert rows[0]["rank"] == 1 and Path(rows[0]["uri"]).name == "red.png"
    assert isinstance(rows[0]["score"], float) and rows[0]["score"] > rows[1]["score"]
    assert rows[0]["metadata"]["album"] == "test" and "sha256" not in rows[0]["metadata"]
    assert len(json.loads(tool.call(query="blue", k=imagevec.TOOL_MAX_K).content)) == 3
    with pytest.raises(imagevec.ConfigError, match="k must be between 1 and 50, got 51"):
        tool.call(query="blue", k=imagevec.TOOL_MAX_K + 1)  # an error, as in LangChain and MCP
    async_rows = json.loads(asyncio.run(tool.acall(query="green", k=1)).content)
    assert Path(async_rows[0]["uri"]).name == "green.png"


def test_tool_image_queries_need_roots(index: imagevec.ImageIndex, colour_dir: Path) -> None:
    text_only = create_image_search_tool(index)
    assert "image" not in text_only.metadata.get_parameters_dict()["properties"]
    tool = create_image_search_tool(index, k=1, path_roots=[colour_dir])
    assert "image" in tool.metadata.get_parameters_dict()["properties"]
    (colour_dir / "new").mkdir()
    copy = colour_dir / "new" / "green-copy.jpg"  # not indexed: read from the file
    Image.open(colour_dir / "green.png").convert("RGB").resize((40, 30)).save(copy)
    rows = tool.call(image=str(copy)).raw_output
    assert Path(rows[0]["uri"]).name == "green.png"
    # an indexed photo: its stored vector, itself left out
    green = str(colour_dir / "green.png")
    like = tool.call(image=green, k=3).raw_output
    assert [r["id"] for r in like] == [h.id for h in index.search(like=green, k=3)]
    assert len(like) == 2 and "green.png" not in {Path(r["uri"]).name for r in like}
    assert "left out" in tool.metadata.description
    with pytest.raises(imagevec.UnsafeSourceError, match="path_roots"):
        tool.call(image="/etc/hostname")
    with pytest.raises(imagevec.ConfigError):
        tool.call(query="")


def test_more_like_this_and_combined_queries(index: imagevec.ImageIndex, colour_dir: Path) -> None:
    retriever = ImagevecRetriever(index, k=3)
    red = colour_dir / "red.png"
    like = retriever.retrieve_like(str(red))
    assert len(like) == 2 and "red.png" not in {_name(n) for n in like}
    assert _name(retriever.retrieve_like(str(red), include_self=True)[0]) == "red.png"
    assert _name(retriever.retrieve_query(f"like:{red} + 3:blue")[0]) == "blue.png"
    query = imagevec.Query.text("green") - imagevec.Query.like(str(red))
    assert _name(retriever.retrieve_query(query)[0]) == "green.png"


def test_tool_takes_the_combined_query_syntax(index: imagevec.ImageIndex, colour_dir: Path) -> None:
    tool = create_image_search_tool(index, k=3)
    assert imagevec.Query.SYNTAX in tool.metadata.description
    red, green = colour_dir / "red.png", colour_dir / "green.png"

    def expected(query: imagevec.Query) -> list[str]:
        return [hit.id for hit in index.search(query=query, k=3)]

    rows = tool.call(query=f"like:{red}").raw_output
    assert [r["id"] for r in rows] == expected(imagevec.Query.like(str(red))) and len(rows) == 2
    rows = tool.call(query=f"blue + 3:like:{red}").raw_output
    assert [r["id"] for r in rows] == expected(
        imagevec.Query.text("blue") + 3 * imagevec.Query.like(str(red))
    )
    rows = tool.call(query="green - 0.5:blue").raw_output
    assert Path(rows[0]["uri"]).name == "green.png"
    assert [r["id"] for r in rows] == expected(
        imagevec.Query.text("green") - 0.5 * imagevec.Query.text("blue")
    )
    with pytest.raises(imagevec.UnsafeSourceError, match="path_roots"):
        tool.call(query=f"blue + image:{green}")  # a text-only tool reads no file
    opened = create_image_search_tool(index, k=1, path_roots=[colour_dir])
    assert Path(opened.call(query=f"image:{green}").raw_output[0]["uri"]).name == "green.png"


def test_tool_answers_an_indexed_photo_without_its_file_or_the_encoder(
    photo_dir: Path, tmp_path: Path
) -> None:
    photos = sorted(photo_dir.glob("*.jpg"))[:6]
    with forgotten_photo_index(photos, tmp_path / "forgotten") as (local, gone, gone_id):
        expected = [hit.id for hit in local.search(like=gone_id, k=3)]
        tool = create_image_search_tool(local, k=3, path_roots=[gone.parent])
        for output in (
            tool.call(image=str(gone)),
            tool.call(image=gone_id),
            tool.call(query=f"like:{gone_id}"),
        ):
            assert [r["id"] for r in output.raw_output] == expected
        assert gone_id not in expected and len(expected) == 3


def test_stock_retriever_tool_queries_are_unwrapped(index: imagevec.ImageIndex) -> None:
    from llama_index.core.tools import RetrieverTool

    retriever = ImagevecRetriever(index, k=1)
    seen: list[str] = []
    original = index.search

    def spy(*args: object, **kwargs: object) -> list:
        seen.append(str(kwargs.get("text", args[0] if args else "")))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    index.search = spy  # type: ignore[method-assign]
    tool = RetrieverTool.from_defaults(retriever=retriever, name="photos")
    output = tool.call(input="red")
    assert seen == ["red"]  # not "\ninput is red\n"
    assert "red" in str(output.raw_output[0].node.metadata.get("uri", ""))


def test_stock_retriever_tool_hands_the_model_id_and_score(index: imagevec.ImageIndex) -> None:
    """LlamaIndex's own RetrieverTool over ImagevecRetriever: the text the model reads names
    each photo's id (to chain like=id) and its score, not the bookkeeping fields."""
    from llama_index.core.tools import RetrieverTool

    tool = RetrieverTool.from_defaults(retriever=ImagevecRetriever(index, k=2), name="photos")
    text = str(tool.call("a red picture").content)
    best = index.search("a red picture", k=1)[0]
    assert f"id: {best.id}" in text and f"score: {round(best.score, 4)}" in text
    assert f"uri: {best.uri}" in text
    assert "sha256" not in text and "mtime_ns" not in text and "bytes:" not in text
