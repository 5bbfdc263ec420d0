"""ImagevecEmbeddings: the LangChain standard suites, images in every form, batching, async."""

from __future__ import annotations

import asyncio
import base64
import io
import pickle
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests
from PIL import Image
from pydantic import ValidationError

import imagevec
from langchain_imagevec import ImagevecEmbeddings

PARAMS = {"model": "test-color", "device": "cpu"}


class TestImagevecEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[ImagevecEmbeddings]:
        return ImagevecEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return PARAMS


class TestImagevecEmbeddingsIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[ImagevecEmbeddings]:
        return ImagevecEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return PARAMS


def test_text_finds_the_named_colour(
    colour_embeddings: ImagevecEmbeddings, colour_paths: list[str]
) -> None:
    images = np.array(colour_embeddings.embed_image(colour_paths))
    for position, word in enumerate(("red", "green", "blue")):
        query = np.array(colour_embeddings.embed_query(f"a {word} picture"))
        assert int(np.argmax(images @ query)) == position


def test_embed_image_accepts_every_input_form(
    colour_embeddings: ImagevecEmbeddings, colour_paths: list[str]
) -> None:
    red = Path(colour_paths[0])
    data = red.read_bytes()
    b64 = base64.b64encode(data).decode()
    inputs = [
        str(red),
        red,
        red.as_uri(),
        data,
        b64,
        f"data:image/png;base64,{b64}",
        Image.open(red),
        np.asarray(Image.open(red).convert("RGB")),
    ]
    vectors = np.array(colour_embeddings.embed_image(inputs))
    assert vectors.shape == (len(inputs), colour_embeddings.encoder.dim)
    np.testing.assert_allclose(vectors, np.repeat(vectors[:1], len(inputs), axis=0), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embed_image_is_one_batched_call(
    colour_embeddings: ImagevecEmbeddings, colour_paths: list[str], monkeypatch: Any
) -> None:
    calls: list[tuple[int, dict[str, Any]]] = []
    encoder = colour_embeddings.encoder
    original = encoder.embed_images

    def spy(sources: Any, **options: Any) -> np.ndarray:
        items = list(sources)
        calls.append((len(items), options))
        return original(items, **options)

    monkeypatch.setattr(encoder, "embed_images", spy)
    out = colour_embeddings.embed_image(colour_paths * 3)
    assert len(out) == 9
    assert len(calls) == 1 and calls[0][0] == 9
    assert calls[0][1]["batch_size"] == 2 and calls[0][1]["on_error"] == "raise"
    assert calls[0][1]["policy"].allow_urls is False


def test_bad_inputs_raise_named_errors(
    colour_embeddings: ImagevecEmbeddings, messy_dir: Path
) -> None:
    with pytest.raises(imagevec.ImageLoadError, match=r"corrupt\.jpg"):
        colour_embeddings.embed_image(
            [str(messy_dir / "good1.jpg"), str(messy_dir / "corrupt.jpg")]
        )
    with pytest.raises(imagevec.UnsafeSourceError, match="URLs are disabled"):
        colour_embeddings.embed_image(["https://example.com/cat.jpg"])
    with pytest.raises(TypeError, match="list of images"):
        colour_embeddings.embed_image("photo.jpg")  # type: ignore[arg-type]
    assert colour_embeddings.embed_image([]) == []
    assert colour_embeddings.embed_documents([]) == []


def test_allow_urls_reaches_the_policy() -> None:
    assert ImagevecEmbeddings(allow_urls=True).policy.allow_urls is True
    assert ImagevecEmbeddings().policy.allow_urls is False


def test_config_is_serialisable_and_lazy() -> None:
    emb = ImagevecEmbeddings(**PARAMS, batch_size=8)
    assert emb._encoder is None  # nothing loaded yet
    dumped = emb.model_dump()
    assert dumped == {
        "model": "test-color",
        "device": "cpu",
        "dtype": "float32",
        "batch_size": 8,
        "allow_urls": False,
    }
    clone = ImagevecEmbeddings(**dumped)
    assert clone.embed_query("red") == emb.embed_query("red")
    restored = pickle.loads(pickle.dumps(emb))
    assert restored.model_dump() == dumped
    assert restored.embed_query("red") == emb.embed_query("red")
    with pytest.raises(ValidationError):
        ImagevecEmbeddings(modle="typo")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        ImagevecEmbeddings(batch_size=0)


def test_wraps_a_ready_encoder(color_encoder_instance: Any) -> None:
    emb = ImagevecEmbeddings(encoder=color_encoder_instance)
    assert emb.encoder is color_encoder_instance
    assert (emb.model, emb.device, emb.dtype) == ("test-color", "cpu", "float32")


def test_encoder_loads_once_across_threads(monkeypatch: Any, color_encoder_instance: Any) -> None:
    created: list[str] = []

    def fake_create(model: str, **options: Any) -> Any:
        created.append(model)
        time.sleep(0.05)
        return color_encoder_instance

    monkeypatch.setattr(imagevec, "create_encoder", fake_create)
    emb = ImagevecEmbeddings(**PARAMS)
    threads = [threading.Thread(target=lambda: emb.encoder) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert created == ["test-color"]


def test_text_only_is_refused_for_image_only_encoders(color_encoder_instance: Any) -> None:
    class ImageOnly:
        name, dim, modalities = "image-only", 3, frozenset({"image"})
        config: ClassVar[dict[str, str]] = {"model": "image-only", "device": "cpu"}

        def embed_texts(self, texts: list[str]) -> np.ndarray:
            raise imagevec.UnsupportedModalityError("embeds images only")

    emb = ImagevecEmbeddings(encoder=ImageOnly())  # type: ignore[arg-type]
    with pytest.raises(imagevec.UnsupportedModalityError):
        emb.embed_query("a cat")


async def test_async_image_embedding_does_not_block_the_loop(
    colour_embeddings: ImagevecEmbeddings, colour_paths: list[str], monkeypatch: Any
) -> None:
    encoder = colour_embeddings.encoder
    original = encoder.embed_images

    def slow(sources: Any, **options: Any) -> np.ndarray:
        time.sleep(0.3)
        return original(sources, **options)

    monkeypatch.setattr(encoder, "embed_images", slow)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(10):
            await asyncio.sleep(0.01)
            ticks += 1

    vectors, _ = await asyncio.gather(colour_embeddings.aembed_image(colour_paths), ticker())
    assert ticks == 10 and len(vectors) == 3
    assert vectors == colour_embeddings.embed_image(colour_paths)
    query = await colour_embeddings.aembed_query("red")
    assert query == colour_embeddings.embed_query("red")
    docs = await colour_embeddings.aembed_documents(["red", "blue"])
    assert docs == colour_embeddings.embed_documents(["red", "blue"])


def test_pil_image_from_memory(colour_embeddings: ImagevecEmbeddings) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (250, 0, 0)).save(buffer, "JPEG")
    red_text = np.array(colour_embeddings.embed_query("red"))
    vec = np.array(colour_embeddings.embed_image([buffer.getvalue()])[0])
    assert float(vec @ red_text) > 0.5
