"""CLIP / ViT / DINOv2 / ResNet encoders against the reference transformers pipeline.

Tiny random-weight models (tests/tiny_models.py) with the real models' processor configs; real
photos. The reference is what a transformers user writes: ``AutoImageProcessor`` + the model
forward + the same pooling + L2 normalisation.
"""

from __future__ import annotations

import functools
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image

import imagevec
from imagevec.encoders.pooling import POOLINGS
from imagevec.errors import ConfigError, UnsupportedModalityError
from tests.tiny_models import VIT_PROCESSOR, sample_photos, tiny_model, write_photos

KINDS = ("clip", "vit", "dinov2", "resnet")
ATOL = 1e-5  # the paths agree to ~1e-7; a wrong resample filter alone moves them ~2e-3


@functools.cache
def encoder(kind: str, **options: Any) -> imagevec.Encoder:
    """One encoder per (kind, options) for the whole module; tests must not change it."""
    return imagevec.create_encoder(str(tiny_model(kind)), device="cpu", **options)


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    """Real photos: landscape, square, portrait, smaller than 224, greyscale."""
    return sample_photos()


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The photos as lossless PNG files (JPEG draft decoding would change the pixels)."""
    return write_photos(tmp_path_factory.mktemp("hf-photos"))


def reference(kind: str, images: list[Image.Image], pooling: str | None = None) -> np.ndarray:
    """The plain transformers pipeline, normalised."""
    from transformers import AutoImageProcessor, AutoModel, CLIPModel

    folder = tiny_model(kind)
    processor = AutoImageProcessor.from_pretrained(folder)
    pixels = processor(images=[im.convert("RGB") for im in images], return_tensors="pt")
    with torch.inference_mode():
        if kind == "clip":
            out = CLIPModel.from_pretrained(folder).get_image_features(**pixels)
            features = out if isinstance(out, torch.Tensor) else out.pooler_output
        else:
            hidden = AutoModel.from_pretrained(folder)(**pixels).last_hidden_state
            if kind == "resnet":
                reduce = {"avg": hidden.mean, "max": hidden.amax}[pooling or "avg"]
                features = reduce(dim=(2, 3))
            elif pooling == "mean":
                features = hidden[:, 1:].mean(dim=1)
            else:
                features = hidden[:, 0]
    return F.normalize(features.float(), dim=-1).numpy()


def assert_same(actual: np.ndarray, expected: np.ndarray, atol: float = ATOL) -> None:
    assert actual.shape == expected.shape and actual.dtype == np.float32
    assert np.abs(actual - expected).max() < atol
    assert (actual * expected).sum(axis=1).min() > 0.99999


def _text_reference(texts: list[str]) -> np.ndarray:
    from transformers import AutoTokenizer, CLIPModel

    folder = tiny_model("clip")
    tokens = AutoTokenizer.from_pretrained(folder)(
        texts, padding=True, truncation=True, max_length=77, return_tensors="pt"
    )
    with torch.inference_mode():
        out = CLIPModel.from_pretrained(folder).get_text_features(**tokens)
    features = out if isinstance(out, torch.Tensor) else out.pooler_output
    return F.normalize(features, dim=-1).numpy()


# ---------------------------------------------------------------------- parity
@pytest.mark.parametrize("kind", KINDS)
def test_image_vectors_equal_transformers_pipeline(
    kind: str, photos: dict[str, Image.Image], photo_files: list[Path]
) -> None:
    expected = reference(kind, list(photos.values()))
    enc = encoder(kind)
    assert_same(enc.embed_images(photo_files, batch_size=4), expected)
    assert_same(enc.embed_images(list(photos.values()), batch_size=32), expected)


def test_jpeg_files_stay_close_to_the_full_decode(photos: dict[str, Image.Image]) -> None:
    """JPEGs may be decoded at 1/2, 1/4 or 1/8 scale (draft mode) before the resize: still
    the same picture to the model, but not bit-identical to a full decode."""
    import io

    files = []
    for image in photos.values():
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        files.append(buffer.getvalue())
    decoded = [Image.open(io.BytesIO(data)) for data in files]
    cosine = (encoder("clip").embed_images(files) * reference("clip", decoded)).sum(axis=1)
    assert cosine.min() > 0.999


def test_vit_mean_pooling_equals_mean_of_patch_tokens(photos: dict[str, Image.Image]) -> None:
    images = list(photos.values())
    mean = encoder("vit", pooling="mean").embed_images(images)
    assert_same(mean, reference("vit", images, pooling="mean"))
    assert np.abs(mean - encoder("vit").embed_images(images)).max() > 1e-2


@pytest.mark.slow  # five ResNet forwards
def test_resnet_poolings(photos: dict[str, Image.Image]) -> None:
    images = list(photos.values())
    vectors = {p: encoder("resnet", pooling=p).embed_images(images) for p in POOLINGS}
    assert_same(vectors["avg"], reference("resnet", images, "avg"))
    assert_same(vectors["max"], reference("resnet", images, "max"))
    names = sorted(vectors)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(vectors[a] - vectors[b]).max() > 1e-3, (a, b)


def test_clip_text_equals_get_text_features() -> None:
    texts = ["a photo of a cat", "the cat", "photo", "", "Coffee, on a SAUCER!"]
    assert_same(encoder("clip").embed_texts(texts), _text_reference(texts))


def test_clip_truncates_long_text() -> None:
    long = " ".join(f"word{i}" for i in range(500))
    vectors = encoder("clip").embed_texts([long, "a cat"])
    assert vectors.shape == (2, 16) and np.isfinite(vectors).all()
    assert_same(vectors, _text_reference([long, "a cat"]))


def test_image_and_text_share_one_space(photos: dict[str, Image.Image]) -> None:
    enc = encoder("clip")
    assert enc.modalities == {"image", "text"} and enc.dim == 16
    assert enc.embed_image(photos["chelsea"]).shape == enc.embed_text("a cat").shape == (16,)


@pytest.mark.parametrize("kind", ["vit", "dinov2", "resnet"])
def test_image_only_encoders_refuse_text(kind: str) -> None:
    with pytest.raises(UnsupportedModalityError):
        encoder(kind).embed_texts(["a cat"])


# ---------------------------------------------------------------------- contract
@pytest.mark.parametrize("kind", KINDS)
def test_float32_normalised_in_order(kind: str, photos: dict[str, Image.Image]) -> None:
    enc = encoder(kind)
    a, b, c = photos["chelsea"], photos["coffee"], photos["small"]
    vectors = enc.embed_images([a, b, a, c, b], batch_size=2)
    assert vectors.dtype == np.float32 and vectors.shape == (5, enc.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    np.testing.assert_allclose(vectors[3], enc.embed_image(c), atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip_and_pickle(kind: str, photos: dict[str, Image.Image]) -> None:
    enc = encoder(kind)
    assert enc.name == f"tiny-{kind}"
    assert enc.config["model"] == str(tiny_model(kind))
    assert json.loads(json.dumps(enc.config)) == enc.config
    image = photos["astronaut"]
    expected = enc.embed_image(image)
    np.testing.assert_array_equal(
        imagevec.create_encoder(**enc.config).embed_image(image), expected
    )
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(enc)).embed_image(image), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_bfloat16_stays_close_to_float32(kind: str, photos: dict[str, Image.Image]) -> None:
    enc = imagevec.create_encoder(str(tiny_model(kind)), device="cpu", dtype="bfloat16")
    if enc.dtype != torch.bfloat16:
        pytest.skip("this CPU has no native bfloat16")
    images = list(photos.values())
    low = enc.embed_images(images)
    assert low.dtype == np.float32
    assert (low * encoder(kind).embed_images(images)).sum(axis=1).min() > 0.99


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(ConfigError, match="pooling"):
        imagevec.create_encoder(str(tiny_model("vit")), device="cpu", pooling="avg")
    with pytest.raises(ConfigError, match="pooling"):
        imagevec.create_encoder(str(tiny_model("clip")), device="cpu", pooling="mean")
    with pytest.raises(ConfigError, match="colour"):
        imagevec.create_encoder(str(tiny_model("resnet")), device="cpu", colour="red")
    with pytest.raises(ConfigError, match="projection_dim"):
        imagevec.create_encoder(str(tiny_model("resnet")), device="cpu", projection_dim=0)


def test_missing_processor_config_falls_back_to_family_defaults(tmp_path: Path) -> None:
    import shutil

    folder = shutil.copytree(tiny_model("vit"), tmp_path / "bare")
    (folder / "preprocessor_config.json").unlink()
    with pytest.warns(UserWarning, match="preprocessor_config.json"):
        enc = imagevec.create_encoder(str(folder), device="cpu")
    assert enc.preprocess == encoder("vit").preprocess


def test_unknown_processor_class_still_reads_the_raw_config(tmp_path: Path) -> None:
    import shutil
    import warnings

    folder = shutil.copytree(tiny_model("vit"), tmp_path / "custom")
    config = {k: v for k, v in VIT_PROCESSOR.items() if k != "feature_extractor_type"}
    config["image_processor_type"] = "MadeUpImageProcessor"
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*preprocessor_config")
        enc = imagevec.create_encoder(str(folder), device="cpu")
    assert enc.preprocess == encoder("vit").preprocess
