"""The one batching loop: order, normalisation, errors per input, streaming, texts."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import imagevec
from imagevec.batching import SkippedImageWarning


@pytest.fixture
def enc() -> imagevec.Encoder:
    return imagevec.create_encoder("test-color", device="cpu")


def _solid(rgb: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (40, 30), rgb)


def test_rows_are_normalised_float32_in_input_order(enc: imagevec.Encoder) -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)] * 7
    vectors = enc.embed_images([_solid(c) for c in colours], batch_size=4)
    assert vectors.shape == (21, enc.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    texts = enc.embed_texts(["red", "green", "blue"])
    best = (vectors @ texts.T).argmax(axis=1)
    assert best.tolist() == [0, 1, 2] * 7


def test_batch_size_does_not_change_vectors(enc: imagevec.Encoder, colour_dir: Path) -> None:
    paths = sorted(colour_dir.glob("*.png")) * 3
    one = enc.embed_images(paths, batch_size=1)
    many = enc.embed_images(paths, batch_size=64)
    np.testing.assert_allclose(one, many, atol=1e-6)


def test_raise_names_the_bad_input(enc: imagevec.Encoder, messy_dir: Path) -> None:
    with pytest.raises(imagevec.ImageLoadError, match=r"corrupt\.jpg"):
        enc.embed_images([messy_dir / "good1.jpg", messy_dir / "corrupt.jpg"])


def test_skip_reports_each_bad_input_and_keeps_the_rest(
    enc: imagevec.Encoder, messy_dir: Path
) -> None:
    files = sorted(messy_dir.iterdir())
    report = enc.encode_images(files, on_error="skip", batch_size=2)
    good = {"good1.jpg", "alpha.png"}
    assert {files[i].name for i in report.indices} == good
    assert {Path(f.source).name for f in report.failures} == {f.name for f in files} - good
    assert all(f.reason for f in report.failures)
    assert report.vectors.shape == (2, enc.dim)
    assert not report.ok


def test_warn_emits_one_warning_per_bad_input(enc: imagevec.Encoder, messy_dir: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vectors = enc.embed_images(
            [messy_dir / "empty.jpg", messy_dir / "good1.jpg", messy_dir / "notes.txt"],
            on_error="warn",
        )
    assert vectors.shape == (1, enc.dim)
    skipped = [w for w in caught if issubclass(w.category, SkippedImageWarning)]
    assert len(skipped) == 2 and "empty.jpg" in str(skipped[0].message)


def test_streaming_consumes_a_generator_lazily(enc: imagevec.Encoder) -> None:
    pulled = []

    def images():
        for i in range(100):
            pulled.append(i)
            yield _solid((i, 0, 0))

    stream = enc.iter_batches(images(), batch_size=10, prefetch=1)
    first = next(stream)
    assert first.indices == list(range(10))
    assert len(pulled) <= 30, "the loop must not read the whole input ahead"
    rest = list(stream)
    assert sum(len(b.indices) for b in rest) == 90


def test_invalid_options_are_clear_errors(enc: imagevec.Encoder) -> None:
    with pytest.raises(imagevec.ConfigError, match="on_error"):
        enc.embed_images([_solid((1, 2, 3))], on_error="ignore")
    with pytest.raises(imagevec.ConfigError, match="batch_size"):
        enc.embed_images([_solid((1, 2, 3))], batch_size=0)
    with pytest.raises(imagevec.ConfigError, match="text #1"):
        enc.embed_texts(["ok", b"bytes"])  # type: ignore[list-item]


def test_empty_inputs_give_empty_arrays(enc: imagevec.Encoder) -> None:
    assert enc.embed_images([]).shape == (0, enc.dim)
    assert enc.embed_texts([]).shape == (0, enc.dim)


def test_encoder_rebuilds_from_config_and_pickle(enc: imagevec.Encoder) -> None:
    image = _solid((10, 200, 30))
    again = imagevec.create_encoder(**enc.config)
    restored = pickle.loads(pickle.dumps(enc))
    for other in (again, restored):
        assert other.identity == enc.identity
        np.testing.assert_allclose(other.embed_image(image), enc.embed_image(image))


def test_text_on_image_only_encoder_is_a_clear_error() -> None:
    from imagevec.encoders.base import IMAGE

    class ImageOnly(type(imagevec.create_encoder("test-color", engine="torch"))):  # type: ignore[misc]
        modalities = frozenset({IMAGE})

    with pytest.raises(imagevec.UnsupportedModalityError, match="images only"):
        ImageOnly(device="cpu").embed_texts(["a cat"])
