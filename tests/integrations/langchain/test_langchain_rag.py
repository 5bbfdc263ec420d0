"""Multimodal RAG helpers: content blocks, exact messages a chat model receives, the chain."""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from PIL import Image
from pydantic import Field

import imagevec
from langchain_imagevec import (
    ImagevecRetriever,
    build_multimodal_messages,
    create_multimodal_rag_chain,
    image_to_data_uri,
    images_to_content_blocks,
)
from langchain_imagevec.rag import DEFAULT_SYSTEM_PROMPT, describe_documents

PREFIX = "data:image/jpeg;base64,"


class RecordingChatModel(GenericFakeChatModel):
    """A fake chat model that keeps every list of messages it was called with."""

    received: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.received.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def recording_model(*answers: str) -> RecordingChatModel:
    return RecordingChatModel(messages=iter([AIMessage(a) for a in answers]))


def decode(url: str) -> Image.Image:
    assert url.startswith(PREFIX)
    image = Image.open(io.BytesIO(base64.b64decode(url[len(PREFIX) :])))
    assert image.format == "JPEG"
    return image


@pytest.fixture
def big_photo(tmp_path: Path) -> Path:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (1200, 900), (200, 40, 40)).save(path, quality=90)
    return path


def test_image_to_data_uri_resizes_the_long_side(big_photo: Path, colour_photos: Path) -> None:
    assert decode(image_to_data_uri(big_photo, max_size=512)).size == (512, 384)
    assert decode(image_to_data_uri(str(big_photo), max_size=100)).size == (100, 75)
    small = decode(image_to_data_uri(colour_photos / "red.png", max_size=512))
    assert small.size == (64, 48)  # never enlarged; PNG re-encoded as JPEG
    with pytest.raises(imagevec.ConfigError):
        image_to_data_uri(big_photo, max_size=0)


def test_content_blocks_from_retrieved_docs(colour_index: Any) -> None:
    docs = ImagevecRetriever(index=colour_index, k=3).invoke("red")
    blocks = images_to_content_blocks(docs, max_size=40)
    assert len(blocks) == 3
    for block in blocks:
        assert set(block) == {"type", "image_url"} and block["type"] == "image_url"
        assert set(block["image_url"]) == {"url"}
        assert max(decode(block["image_url"]["url"]).size) <= 40
    detailed = images_to_content_blocks(docs[:1], detail="low")
    assert detailed[0]["image_url"]["detail"] == "low"


def test_unreadable_images_are_skipped_or_raised(
    big_photo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = [
        Document("gone.jpg", metadata={"uri": str(tmp_path / "gone.jpg")}),
        Document("big.jpg", metadata={"uri": str(big_photo)}),
    ]
    with caplog.at_level(logging.WARNING, logger="langchain_imagevec.rag"):
        assert len(images_to_content_blocks(docs)) == 1
    assert "gone.jpg" in caplog.text
    with pytest.raises(imagevec.ImageLoadError, match="no such file"):
        images_to_content_blocks(docs, on_error="raise")


def test_upstream_chroma_documents_work_too(big_photo: Path) -> None:
    # langchain_chroma's add_images stores base64 as page_content and no uri
    doc = Document(base64.b64encode(big_photo.read_bytes()).decode(), metadata={"album": "x"})
    blocks = images_to_content_blocks([doc], max_size=64)
    assert decode(blocks[0]["image_url"]["url"]).size == (64, 48)
    assert describe_documents([doc]) == "Image 1: album: x"


def test_build_messages_exactly(colour_index: Any) -> None:
    docs = ImagevecRetriever(index=colour_index, k=2).invoke("red")
    messages = build_multimodal_messages("Which colour is warmest?", docs, max_size=32)
    s0, s1 = (d.metadata["score"] for d in docs)
    expected_text = (
        "Which colour is warmest?\n\n"
        f"Image 1: red.png (PNG 64x48) | album: warm | caption: a red square (score {s0:.2f})\n"
        f"Image 2: {docs[1].page_content.split(' | uri: ')[0]} (score {s1:.2f})"
    )
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage]
    assert messages[0].content == DEFAULT_SYSTEM_PROMPT
    content = messages[1].content
    assert content[0] == {"type": "text", "text": expected_text}
    assert len(content) == 3
    for block, doc in zip(content[1:], docs, strict=True):
        assert block == images_to_content_blocks([doc], max_size=32)[0]
        assert decode(block["image_url"]["url"]).size == (32, 24)


def test_build_messages_without_images_or_system() -> None:
    messages = build_multimodal_messages("Anything?", [], system_prompt=None)
    assert messages == [
        HumanMessage(
            content=[{"type": "text", "text": "Anything?\n\n(No matching images were found.)"}]
        )
    ]


def test_chain_sends_the_exact_messages(colour_index: Any) -> None:
    retriever = ImagevecRetriever(index=colour_index, k=2)
    model = recording_model("It is red.")
    chain = create_multimodal_rag_chain(retriever, model, max_size=32, system_prompt="Be brief.")
    assert chain.invoke("Show me something red") == "It is red."
    (received,) = model.received
    docs = retriever.invoke("Show me something red")
    expected = build_multimodal_messages(
        "Show me something red", docs, max_size=32, system_prompt="Be brief."
    )
    assert received == expected
    assert received[0] == SystemMessage("Be brief.")
    images = [b for b in received[1].content if b["type"] == "image_url"]
    assert len(images) == 2
    assert all(max(decode(b["image_url"]["url"]).size) <= 32 for b in images)


async def test_chain_with_sources_async(colour_index: Any) -> None:
    retriever = ImagevecRetriever(index=colour_index, k=1)
    model = recording_model("Blue.")
    chain = create_multimodal_rag_chain(retriever, model, return_sources=True)
    out = await chain.ainvoke("blue")
    assert out["answer"] == "Blue." and out["question"] == "blue"
    assert [Path(d.metadata["uri"]).stem for d in out["docs"]] == ["blue"]
    assert len(model.received) == 1
