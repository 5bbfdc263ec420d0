"""CLIP / ViT / DINOv2 / ResNet encoders against the reference transformers pipeline.

Tiny random-weight models (tests/tiny_models.py) with the real models' processor configs; real
photos. The reference is what a transformers user writes: ``AutoImageProcessor`` + the model
forward + the same pooling + L2 normalisation.
"""

from __future__ import annotations

import functools
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image
from tests.tiny_models import tiny_model

import imagevec
from imagevec.errors import ConfigError, UnsupportedModalityError

KINDS = ("clip", "vit", "dinov2", "resnet")
ATOL = 1e-5  # the paths agree to ~1e-7; a wrong resample filter alone moves them ~2e-3


@functools.cache
def encoder(kind: str, **options: Any) -> imagevec.Encoder:
    """One encoder per (kind, options) for the whole module; tests must not change it."""
    return imagevec.create_encoder(str(tiny_model(kind)), device="cpu", **options)


@pytest.fixture(scope="session")
def photos() -> dict[str, Image.Image]:
    """Real photos: landscape, square, portrait, smaller than 224, greyscale."""
    from skimage import data

    coffee, chelsea = data.coffee(), data.chelsea()
    arrays = {
        "chelsea": chelsea,  # 451x300
        "astronaut": data.astronaut(),  # 512x512
        "coffee": coffee,  # 600x400
        "portrait": coffee[:, 180:430],  # 250x400
        "small": chelsea[60:180, 140:301],  # 161x120, upscaled
        "grey": data.camera()[::2, 50:450],  # 200x256, mode L
    }
    return {name: Image.fromarray(np.ascontiguousarray(a)) for name, a in arrays.items()}


@pytest.fixture(scope="session")
def photo_files(photos: dict[str, Image.Image], tmp_path_factory: pytest.TempPathFactory) -> list:
    """The photos as lossless PNG files (JPEG draft decoding would change the pixels)."""
    folder = tmp_path_factory.mktemp("hf-photos")
    paths = []
    for name, image in photos.items():
        image.save(folder / f"{name}.png")
        paths.append(folder / f"{name}.png")
    return paths


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


def test_resnet_poolings(photos: dict[str, Image.Image]) -> None:
    images = list(photos.values())
    vectors = {p: encoder("resnet", pooling=p).embed_images(images) for p in imagevec_poolings()}
    assert_same(vectors["avg"], reference("resnet", images, "avg"))
    assert_same(vectors["max"], reference("resnet", images, "max"))
    names = sorted(vectors)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(vectors[a] - vectors[b]).max() > 1e-3, (a, b)


def imagevec_poolings() -> tuple[str, ...]:
    from imagevec.pooling import POOLINGS

    return POOLINGS


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


# ---------------------------------------------------------------------- projection, save
def test_fresh_projection_head_is_deterministic(photos: dict[str, Image.Image]) -> None:
    torch.manual_seed(1)
    state = torch.random.get_rng_state()
    one = imagevec.create_encoder(str(tiny_model("resnet")), device="cpu", projection_dim=8)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    torch.manual_seed(2)
    two = imagevec.create_encoder(**one.config)
    assert one.dim == two.dim == 8 and one.config["projection_dim"] == 8
    assert one.fingerprint == two.fingerprint
    image = photos["coffee"]
    np.testing.assert_array_equal(one.embed_image(image), two.embed_image(image))


def test_projection_head_is_identical_in_another_process(
    photo_files: list[Path], tmp_path: Path
) -> None:
    enc = imagevec.create_encoder(str(tiny_model("clip")), device="cpu", projection_dim=8)
    out = tmp_path / "vectors.npy"
    script = (
        "import pickle, sys, numpy as np; enc = pickle.loads(sys.stdin.buffer.read()); "
        f"np.save({str(out)!r}, np.concatenate([enc.embed_images([{str(photo_files[0])!r}]), "
        "enc.embed_texts(['a cat'])]))"
    )
    subprocess.run([sys.executable, "-c", script], input=pickle.dumps(enc), check=True, timeout=120)
    expected = np.concatenate([enc.embed_images(photo_files[:1]), enc.embed_texts(["a cat"])])
    np.testing.assert_array_equal(np.load(out), expected)


@pytest.mark.parametrize(("kind", "pooling"), [("clip", None), ("vit", "mean"), ("resnet", "gem")])
def test_save_and_load_round_trip_with_projection(
    kind: str, pooling: str | None, photos: dict[str, Image.Image], tmp_path: Path
) -> None:
    enc = imagevec.create_encoder(
        str(tiny_model(kind)), device="cpu", pooling=pooling, projection_dim=8
    )
    with torch.no_grad():  # as if trained: the saved head must be loaded, not re-seeded
        for param in enc.modules()["projection"].parameters():
            param.add_(0.05)
    folder = enc.save(tmp_path / "exported")
    meta = json.loads((folder / "imagevec.json").read_text())
    assert meta == {
        "format": 1,
        "family": kind,
        "pooling": enc.pooling,
        "projection": {
            "in_dim": enc.projection.in_dim,
            "out_dim": 8,
            "hidden_dim": enc.projection.in_dim,
        },
        "base_model": str(tiny_model(kind)),
    }
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "projection.safetensors",
    ):
        assert (folder / name).is_file(), name
    assert not list(folder.glob("*.bin"))
    loaded = imagevec.create_encoder(str(folder), device="cpu")
    assert (loaded.dim, loaded.pooling, loaded.name) == (8, enc.pooling, "exported")
    images = list(photos.values())
    np.testing.assert_allclose(loaded.embed_images(images), enc.embed_images(images), atol=1e-6)
    if kind == "clip":
        np.testing.assert_allclose(
            loaded.embed_texts(["a cat"]), enc.embed_texts(["a cat"]), atol=1e-6
        )
    again = imagevec.create_encoder(**loaded.config)  # config of a saved folder round-trips
    np.testing.assert_array_equal(again.embed_images(images), loaded.embed_images(images))
    with pytest.raises(ConfigError, match="projection"):
        imagevec.create_encoder(str(folder), device="cpu", projection_dim=4)
    resaved = loaded.save(tmp_path / "second")  # the base model is carried over
    assert json.loads((resaved / "imagevec.json").read_text())["base_model"] == str(
        tiny_model(kind)
    )


def test_save_without_projection(photos: dict[str, Image.Image], tmp_path: Path) -> None:
    folder = encoder("dinov2").save(tmp_path / "plain")
    assert json.loads((folder / "imagevec.json").read_text())["projection"] is None
    assert not (folder / "projection.safetensors").exists()
    loaded = imagevec.create_encoder(str(folder), device="cpu")
    image = photos["portrait"]
    np.testing.assert_allclose(
        loaded.embed_image(image), encoder("dinov2").embed_image(image), atol=1e-6
    )


# ---------------------------------------------------------------------- layer groups
@pytest.mark.parametrize(
    ("kind", "blocks"), [("clip", 2), ("vit", 2), ("dinov2", 2), ("resnet", 4)]
)
def test_layer_groups_order_and_freezing(kind: str, blocks: int) -> None:
    enc = imagevec.create_encoder(str(tiny_model(kind)), device="cpu", projection_dim=4)
    groups = enc.layer_groups()
    assert len(groups) == 1 + blocks + 1
    first_conv = next(m for m in groups[0].modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.in_channels == 3  # the stem / patch embedding comes first
    assert any(p is q for p in groups[-1].parameters() for q in enc.projection.parameters())
    ids = [{id(p) for p in g.parameters()} for g in groups]
    assert sum(map(len, ids)) == len(set().union(*ids))  # disjoint
    owned = {id(p) for m in enc.modules().values() for p in m.parameters()}
    assert set().union(*ids) <= owned

    pixels = torch.randn(2, 3, 224, 224)
    enc.forward_images(pixels).sum().backward()
    used = {id(p) for m in enc.modules().values() for p in m.parameters() if p.grad is not None}
    assert used <= set().union(*ids)  # every weight the image path uses is in a group
    for module in enc.modules().values():
        module.zero_grad(set_to_none=True)

    for g in groups[:-1]:
        g.requires_grad_(False)
    enc.forward_images(pixels).sum().backward()
    trained = {id(p) for m in enc.modules().values() for p in m.parameters() if p.grad is not None}
    assert trained and trained <= ids[-1]
