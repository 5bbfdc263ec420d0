"""The real bundled default encoder through the LangChain adapters, on the sample photos."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from PIL import Image, ImageEnhance

import imagevec
from langchain_imagevec import (
    ImagevecEmbeddings,
    ImagevecRetriever,
    create_multimodal_rag_chain,
    create_similar_image_tool,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photo_index(
    photo_dir: Path, tmp_path_factory: pytest.TempPathFactory, default_encoder: Any
) -> Iterator[imagevec.ImageIndex]:
    db = tmp_path_factory.mktemp("default-db")
    with imagevec.ImageIndex(db, collection="photos", encoder=default_encoder) as index:
        assert index.add(photo_dir).ok
        yield index


@pytest.fixture(scope="module")
def edited_chelsea(photo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    image = Image.open(photo_dir / "chelsea.jpg").convert("RGB")
    w, h = image.size
    image = image.crop((w // 10, h // 10, w - w // 8, h - h // 12)).resize((300, 200))
    image = ImageEnhance.Brightness(image).enhance(1.2)
    path = tmp_path_factory.mktemp("edited") / "chelsea_edit.jpg"
    image.save(path, quality=70)
    return path


def test_text_a_cat_finds_chelsea(photo_index: Any) -> None:
    docs = ImagevecRetriever(index=photo_index, k=3).invoke("a cat")
    assert Path(docs[0].metadata["uri"]).stem == "chelsea"
    assert docs[0].page_content.startswith("chelsea.jpg (JPEG ")


def test_edited_chelsea_finds_chelsea(photo_index: Any, edited_chelsea: Path) -> None:
    retriever = ImagevecRetriever(index=photo_index, k=3)
    for query in (str(edited_chelsea), Image.open(edited_chelsea)):
        docs = retriever.invoke(query)
        assert Path(docs[0].metadata["uri"]).stem == "chelsea"
    tool = create_similar_image_tool(photo_index, path_roots=[edited_chelsea.parent])
    result = json.loads(tool.invoke({"image": str(edited_chelsea), "k": 1}))
    assert Path(result[0]["uri"]).stem == "chelsea"


def test_embeddings_match_the_index(default_encoder: Any, photo_dir: Path) -> None:
    emb = ImagevecEmbeddings(encoder=default_encoder)
    assert emb.model == "default"
    photos = sorted(str(p) for p in photo_dir.glob("*.jpg"))
    vectors = emb.embed_image(photos)
    scores = np.array(vectors) @ np.array(emb.embed_query("a cat"))
    assert Path(photos[int(np.argmax(scores))]).stem == "chelsea"


def test_rag_chain_on_real_photos(photo_index: Any) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("A tabby cat.")]))
    chain = create_multimodal_rag_chain(
        ImagevecRetriever(index=photo_index, k=2, mode="text"), model, return_sources=True
    )
    out = chain.invoke("a cat")
    assert out["answer"] == "A tabby cat."
    assert Path(out["docs"][0].metadata["uri"]).stem == "chelsea"
