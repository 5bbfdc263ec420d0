"""ImagevecRetriever: the standard retriever suite, text or image queries, filters, async."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests
from PIL import Image
from pydantic import ValidationError

import imagevec
from langchain_imagevec import ImagevecRetriever, guess_query_mode


class TestImagevecRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _use_index(self, colour_index: imagevec.ImageIndex) -> None:
        self._index = colour_index

    @property
    def retriever_constructor(self) -> type[ImagevecRetriever]:
        return ImagevecRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"index": self._index}

    @property
    def retriever_query_example(self) -> str:
        return "a red picture"


@pytest.fixture
def retriever(colour_index: imagevec.ImageIndex) -> ImagevecRetriever:
    return ImagevecRetriever(index=colour_index, k=4)


def stems(docs: list[Document]) -> list[str]:
    return [Path(d.metadata["uri"]).stem for d in docs]


def test_text_query_documents(
    retriever: ImagevecRetriever, colour_photos: Path, color_encoder_instance: Any
) -> None:
    docs = retriever.invoke("something red")
    assert stems(docs)[0] == "red"
    top = docs[0]
    assert top.metadata["uri"] == str(colour_photos / "red.png")
    assert top.id == top.metadata["id"]
    assert top.metadata["caption"] == "a red square" and top.metadata["album"] == "warm"
    assert top.page_content == (
        "red.png (PNG 64x48) | album: warm | caption: a red square"
        f" | uri: {colour_photos / 'red.png'} | score: {top.metadata['score']:.3f}"
    )
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    # score is the cosine similarity of the two vectors
    enc = color_encoder_instance  # the index's encoder
    expected = float(enc.embed_text("something red") @ enc.embed_images([top.metadata["uri"]])[0])
    assert top.metadata["score"] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    "make_query",
    [
        lambda p: str(p),
        lambda p: p,
        lambda p: p.as_uri(),
        lambda p: p.read_bytes(),
        lambda p: "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode(),
        lambda p: base64.b64encode(p.read_bytes()).decode(),
        lambda p: Image.open(p),
        lambda p: np.asarray(Image.open(p).convert("RGB")),
    ],
    ids=["path", "pathlib", "file-uri", "bytes", "data-uri", "base64", "pil", "array"],
)
def test_image_queries(retriever: ImagevecRetriever, colour_photos: Path, make_query: Any) -> None:
    docs = retriever.invoke(make_query(colour_photos / "blue.png"))
    assert stems(docs)[0] == "blue"
    assert docs[0].metadata["score"] == pytest.approx(1.0, abs=1e-4)


def test_explicit_mode_overrides_the_guess(
    retriever: ImagevecRetriever, colour_photos: Path, monkeypatch: Any
) -> None:
    calls: list[dict[str, Any]] = []
    original = retriever.index.search

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(retriever.index, "search", spy)
    retriever.invoke("green.png", mode="text")
    assert calls[-1]["text"] == "green.png"
    retriever.invoke(str(colour_photos / "green.png"), mode="image")
    assert calls[-1]["image"] == str(colour_photos / "green.png")
    assert calls[-1]["policy"].allow_urls is False
    text_only = ImagevecRetriever(index=retriever.index, mode="text")
    text_only.invoke(str(colour_photos / "green.png"))
    assert "text" in calls[-1]
    with pytest.raises(imagevec.ConfigError, match="string"):
        text_only.invoke(Image.open(colour_photos / "green.png"))  # type: ignore[arg-type]


def test_text_with_a_url_is_text_and_never_fetched(
    retriever: ImagevecRetriever, monkeypatch: Any
) -> None:
    calls: list[dict[str, Any]] = []
    original = retriever.index.search

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(retriever.index, "search", spy)
    assert stems(retriever.invoke("red like https://example.com/red.png"))[0] == "red"
    assert retriever.invoke("https://example.com/red.png")  # IS a URL, but URLs are off
    assert [set(c) - {"k", "where"} for c in calls] == [{"text"}, {"text"}]


def test_allowed_urls_are_image_queries_under_the_policy(colour_index: Any) -> None:
    retriever = ImagevecRetriever(index=colour_index, allow_urls=True)
    # The fetch goes through the core's policy: a loopback address is refused, offline.
    with pytest.raises(imagevec.UnsafeSourceError):
        retriever.invoke("http://127.0.0.1:9/red.png")


@pytest.mark.parametrize(
    ("query", "allow_urls", "expected"),
    [
        ("a red car", False, "text"),
        ("photos/car.jpg", False, "image"),
        ("IMG_0001.HEIC", False, "image"),
        ("DSC_0002.NEF", False, "image"),
        ("CAR.JPEG", False, "image"),
        ("file:///tmp/x", False, "image"),
        ("data:image/png;base64,iVBOR", False, "image"),
        ("data:text/plain,hello", False, "text"),
        ("https://example.com/cat.jpg", False, "text"),
        ("https://example.com/cat.jpg", True, "image"),
        ("https://example.com/cat.jpg?size=2", True, "image"),
        ("https://example.com/page", True, "text"),
        ("look at https://example.com/cat.jpg", True, "text"),
        ("the file cat.jpg please", False, "text"),
        ("A" * 80, False, "image"),
        ("", False, "text"),
        (b"\x89PNG", False, "image"),
    ],
)
def test_guess_query_mode(query: Any, allow_urls: bool, expected: str) -> None:
    assert guess_query_mode(query, allow_urls=allow_urls) == expected


def test_existing_file_with_spaces_is_an_image(tmp_path: Path) -> None:
    path = tmp_path / "my photo.png"
    Image.new("RGB", (8, 8)).save(path)
    assert guess_query_mode(str(path)) == "image"


def test_filters_threshold_and_k(retriever: ImagevecRetriever) -> None:
    assert stems(retriever.invoke("red", where={"album": "cool"})) in (
        ["green", "blue"],
        ["blue", "green"],
    )
    assert len(retriever.invoke("red", k=2)) == 2
    kept = retriever.invoke("red", score_threshold=0.9)
    assert stems(kept) == ["red"]
    strict = ImagevecRetriever(index=retriever.index, score_threshold=0.99, where={"album": "cool"})
    assert strict.invoke("red") == []


def test_missing_image_file_fails_loudly(retriever: ImagevecRetriever, tmp_path: Path) -> None:
    with pytest.raises(imagevec.ImageLoadError, match="no such file"):
        retriever.invoke(str(tmp_path / "missing.jpg"))


def test_only_an_image_index_is_accepted() -> None:
    with pytest.raises(ValidationError, match="as_retriever"):
        ImagevecRetriever(index=object())
    with pytest.raises(ValidationError):
        ImagevecRetriever(index=None, kk=3)  # type: ignore[call-arg]


async def test_async_queries(retriever: ImagevecRetriever, colour_photos: Path) -> None:
    text_docs = await retriever.ainvoke("yellow", k=1)
    image_docs = await retriever.ainvoke(Image.open(colour_photos / "green.png"), k=1)
    assert stems(text_docs) == ["yellow"] and stems(image_docs) == ["green"]
    batch = await retriever.abatch(["red", "blue"])
    assert [stems(docs)[0] for docs in batch] == ["red", "blue"]


def test_like_and_combined_queries(retriever: ImagevecRetriever, colour_photos: Path) -> None:
    red = colour_photos / "red.png"
    like = retriever.invoke(str(red), mode="like")
    assert "red" not in stems(like) and len(like) == 3
    combined = imagevec.Query.like(str(red)) + 3 * imagevec.Query.text("green")
    assert stems(retriever.invoke(combined)) == ["green", "yellow", "blue"]  # red left out
    assert stems(retriever.invoke(f"like:{red} + 3:green", mode="query")) == stems(
        retriever.invoke(combined)
    )
    assert stems(retriever.invoke(f"{red} - green", mode="query"))[0] == "red"
    with pytest.raises(imagevec.NotIndexedError):
        retriever.invoke("no-such-id", mode="like")


def test_stock_retriever_tool_gets_a_tool_error_for_a_bad_image(
    colour_index: Any, tmp_path: Path
) -> None:
    from langchain_core.tools import ToolException, create_retriever_tool

    tool = create_retriever_tool(ImagevecRetriever(index=colour_index, k=2), "photos", "Photos.")
    text = tool.invoke({"query": "something red"})
    assert "uri: " in text and "score: " in text  # the model can refer back to a photo
    missing = str(tmp_path / "nope.png")
    with pytest.raises(ToolException):
        tool.invoke({"query": missing})
    with pytest.raises(imagevec.ImageLoadError):  # still imagevec's error for plain code
        ImagevecRetriever(index=colour_index).invoke(missing)
    tool.handle_tool_error = True
    assert "nope.png" in tool.invoke({"query": missing})  # a message, the run goes on
