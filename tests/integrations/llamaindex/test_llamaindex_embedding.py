"""ImagevecEmbedding: config, batching (one call into imagevec's loop), async, errors."""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from llama_index.core.embeddings import MultiModalEmbedding
from pydantic import ValidationError
from tests.support.color_encoder import ColorEncoder

import imagevec
from llama_index.embeddings.imagevec import ImagevecEmbedding


def _paths(colour_dir: Path, n: int) -> list[str]:
    names = ("red", "green", "blue")
    return [str(colour_dir / f"{names[i % 3]}.png") for i in range(n)]


def test_namespace_package_layout() -> None:
    root = Path(__file__).resolve().parents[3] / "integrations" / "llama_index"
    assert not (root / "__init__.py").exists()
    assert not (root / "embeddings" / "__init__.py").exists()
    assert issubclass(ImagevecEmbedding, MultiModalEmbedding)


def test_public_names_are_pinned() -> None:
    import llama_index.embeddings.imagevec as package

    assert package.__all__ == ["ImagevecEmbedding"]
    import llama_index.readers.imagevec as readers
    import llama_index.retrievers.imagevec as retrievers
    import llama_index.tools.imagevec as tools
    import llama_index.vector_stores.imagevec as stores

    assert retrievers.__all__ == ["ImagevecRetriever"]
    assert tools.__all__ == ["create_image_search_tool"]
    assert readers.__all__ == ["check_image_documents", "load_image_documents"]
    assert stores.__all__ == ["CosineChromaVectorStore", "cosine_chroma_store"]
    with pytest.warns(DeprecationWarning, match="llama_index.retrievers.imagevec"):
        assert package.ImagevecRetriever is retrievers.ImagevecRetriever


def test_config_is_serialisable_and_rebuilds_lazily() -> None:
    emb = ImagevecEmbedding(model_name="test-color", device="cpu", embed_batch_size=8)
    assert emb._encoder is None  # nothing loaded yet
    data = emb.to_dict()
    assert data["class_name"] == "ImagevecEmbedding" == ImagevecEmbedding.class_name()
    assert {"model_name", "device", "dtype", "embed_batch_size", "allow_urls"} <= set(data)
    for name in ("model_name", "device", "dtype", "embed_batch_size", "allow_urls"):
        assert ImagevecEmbedding.model_fields[name].description
    again = ImagevecEmbedding.from_json(emb.to_json())
    assert again.to_dict() == data
    assert again.dim == 48 and again.encoder.name == "test-color"
    clone = pickle.loads(pickle.dumps(again))
    assert np.allclose(clone.get_text_embedding("red"), again.get_text_embedding("red"))


def test_config_taken_from_a_ready_encoder(color_encoder_instance: ColorEncoder) -> None:
    emb = ImagevecEmbedding(encoder=color_encoder_instance)
    assert emb.encoder is color_encoder_instance
    assert (emb.model_name, emb.device, emb.dtype) == ("test-color", "cpu", "float32")


def test_typos_in_options_are_errors() -> None:
    with pytest.raises(ValidationError):
        ImagevecEmbedding(model_nme="default")
    with pytest.raises(ValidationError):
        ImagevecEmbedding(embed_batch_size=0)


def test_image_batch_is_one_call_into_the_loop(colour_dir: Path, spy_encoder: Any) -> None:
    spy = spy_encoder
    emb = ImagevecEmbedding(encoder=spy, embed_batch_size=4)
    paths = _paths(colour_dir, 10)
    vectors = emb.get_image_embedding_batch(paths)
    assert spy.loop_calls == 1
    assert spy.batch_sizes == [4, 4, 2]  # real batches of embed_batch_size
    assert len(vectors) == 10 and len(vectors[0]) == 48
    assert np.allclose(vectors, spy.embed_images(paths), atol=1e-6)
    # LlamaIndex's own hook for a chunk is one call too (the base class loops per image).
    spy.loop_calls = 0
    emb._get_image_embeddings(paths[:3])
    assert spy.loop_calls == 1


def test_async_image_batch_is_one_call_and_leaves_the_event_loop_free(
    colour_dir: Path, spy_encoder: Any
) -> None:
    spy = spy_encoder
    spy.delay = 0.3
    emb = ImagevecEmbedding(encoder=spy, embed_batch_size=4)
    paths = _paths(colour_dir, 9)

    async def main() -> tuple[list[list[float]], int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        vectors = await emb.aget_image_embedding_batch(paths)
        task.cancel()
        return vectors, ticks

    vectors, ticks = asyncio.run(main())
    assert len(vectors) == 9 and spy.loop_calls == 1
    assert ticks >= 10  # the loop kept running while the encoder worked
    single = asyncio.run(emb.aget_image_embedding(paths[0]))
    assert np.allclose(single, vectors[0], atol=1e-6)


def test_texts_and_queries_share_the_image_space(colour_dir: Path) -> None:
    emb = ImagevecEmbedding(encoder=ColorEncoder(device="cpu"), embed_batch_size=2)
    red_image = np.array(emb.get_image_embedding(str(colour_dir / "red.png")))
    texts = emb.get_text_embedding_batch(["red", "green", "blue", "a red car", "blue sky"])
    assert len(texts) == 5
    scores = np.array(texts) @ red_image
    assert int(np.argmax(scores)) in (0, 3)
    query = np.array(emb.get_query_embedding("red"))
    assert np.allclose(query, texts[0], atol=1e-6)
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-5)
    assert np.allclose(asyncio.run(emb.aget_query_embedding("red")), query, atol=1e-6)
    assert np.allclose(asyncio.run(emb.aget_text_embedding_batch(["red"]))[0], query, atol=1e-6)


def test_image_inputs_path_bytesio_and_data_uri(colour_dir: Path) -> None:
    import base64
    import io

    emb = ImagevecEmbedding(encoder=ColorEncoder(device="cpu"))
    path = colour_dir / "green.png"
    raw = path.read_bytes()
    uri = "data:image/png;base64," + base64.b64encode(raw).decode()
    vectors = emb.get_image_embedding_batch([str(path), io.BytesIO(raw), uri])
    assert np.allclose(vectors[0], vectors[1], atol=1e-6)
    assert np.allclose(vectors[0], vectors[2], atol=1e-6)


def test_urls_refused_unless_allowed() -> None:
    emb = ImagevecEmbedding(encoder=ColorEncoder(device="cpu"))
    with pytest.raises(imagevec.ImageLoadError, match=r"example\.com/cat\.jpg"):
        emb.get_image_embedding("http://example.com/cat.jpg")


def test_a_bad_image_names_the_file_and_the_way_out(messy_dir: Path) -> None:
    emb = ImagevecEmbedding(encoder=ColorEncoder(device="cpu"))
    good = str(messy_dir / "good1.jpg")
    bad = str(messy_dir / "corrupt.jpg")
    with pytest.raises(imagevec.ImageLoadError) as info:
        emb.get_image_embedding_batch([good, bad, str(messy_dir / "notes.txt")])
    message = str(info.value)
    assert "corrupt.jpg" in message and "notes.txt" in message and "2 of 3" in message
    assert "load_image_documents" in message
    assert isinstance(info.value, imagevec.ImagevecError)


def test_network_is_blocked_in_these_tests() -> None:
    import urllib.request

    for url in ("http://example.com", "http://192.0.2.1"):
        with pytest.raises(Exception, match="network access"):
            urllib.request.urlopen(url, timeout=2)


def test_empty_batches() -> None:
    emb = ImagevecEmbedding(encoder=ColorEncoder(device="cpu"))
    assert emb.get_image_embedding_batch([]) == []
    assert emb.get_text_embedding_batch([]) == []
