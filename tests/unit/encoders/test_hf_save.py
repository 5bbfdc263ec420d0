"""Projection head, save/load and layer groups of the Hugging Face families: what fine-tuning
and export rely on."""

from __future__ import annotations

import functools
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import imagevec
from imagevec.errors import ConfigError
from tests.tiny_models import sample_photos, tiny_model, write_photos


@functools.cache
def encoder(kind: str) -> imagevec.Encoder:
    """One plain encoder per kind for the module; tests must not change it."""
    return imagevec.create_encoder(str(tiny_model(kind)), device="cpu", engine="torch")


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return sample_photos()


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_photos(tmp_path_factory.mktemp("save-photos"))


# ---------------------------------------------------------------------- projection, save
def test_fresh_projection_head_is_deterministic(photos: dict[str, Image.Image]) -> None:
    folder = str(tiny_model("resnet"))
    torch.manual_seed(1)
    state = torch.random.get_rng_state()
    one = imagevec.create_encoder(folder, device="cpu", engine="torch", projection_dim=8)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is untouched
    torch.manual_seed(2)
    two = imagevec.create_encoder(**one.config, engine="torch")
    assert one.dim == two.dim == 8 and one.config["projection_dim"] == 8
    assert one.fingerprint == two.fingerprint
    image = photos["coffee"]
    np.testing.assert_array_equal(one.embed_image(image), two.embed_image(image))


@pytest.mark.slow  # a second Python process
def test_projection_head_is_identical_in_another_process(
    photo_files: list[Path], tmp_path: Path
) -> None:
    enc = imagevec.create_encoder(
        str(tiny_model("clip")), device="cpu", engine="torch", projection_dim=8
    )
    out = tmp_path / "vectors.npy"
    script = (
        "import pickle, sys, numpy as np; enc = pickle.loads(sys.stdin.buffer.read()); "
        f"np.save({str(out)!r}, np.concatenate([enc.embed_images([{str(photo_files[0])!r}]), "
        "enc.embed_texts(['a cat'])]))"
    )
    subprocess.run([sys.executable, "-c", script], input=pickle.dumps(enc), check=True, timeout=120)
    expected = np.concatenate([enc.embed_images(photo_files[:1]), enc.embed_texts(["a cat"])])
    # the other process runs the exported graph of the same weights: equal to float precision
    np.testing.assert_allclose(np.load(out), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("kind", "pooling"),
    [("clip", None), ("vit", "mean"), pytest.param("resnet", "gem", marks=pytest.mark.slow)],
)
def test_save_and_load_round_trip_with_projection(
    kind: str, pooling: str | None, photos: dict[str, Image.Image], tmp_path: Path
) -> None:
    enc = imagevec.create_encoder(
        str(tiny_model(kind)), device="cpu", pooling=pooling, projection_dim=8, engine="torch"
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
    loaded = imagevec.create_encoder(str(folder), device="cpu", engine="torch")
    assert (loaded.dim, loaded.pooling, loaded.name) == (8, enc.pooling, "exported")
    images = list(photos.values())
    np.testing.assert_allclose(loaded.embed_images(images), enc.embed_images(images), atol=1e-6)
    if kind == "clip":
        np.testing.assert_allclose(
            loaded.embed_texts(["a cat"]), enc.embed_texts(["a cat"]), atol=1e-6
        )
    again = imagevec.create_encoder(
        **loaded.config, engine="torch"
    )  # config of a saved folder round-trips
    np.testing.assert_array_equal(again.embed_images(images), loaded.embed_images(images))
    with pytest.raises(ConfigError, match="projection"):
        imagevec.create_encoder(str(folder), device="cpu", engine="torch", projection_dim=4)
    resaved = loaded.save(tmp_path / "second")  # the base model is carried over
    assert json.loads((resaved / "imagevec.json").read_text())["base_model"] == str(
        tiny_model(kind)
    )


def test_save_without_projection(photos: dict[str, Image.Image], tmp_path: Path) -> None:
    folder = encoder("dinov2").save(tmp_path / "plain")
    assert json.loads((folder / "imagevec.json").read_text())["projection"] is None
    assert not (folder / "projection.safetensors").exists()
    loaded = imagevec.create_encoder(str(folder), device="cpu", engine="torch")
    image = photos["portrait"]
    np.testing.assert_allclose(
        loaded.embed_image(image), encoder("dinov2").embed_image(image), atol=1e-6
    )


# ---------------------------------------------------------------------- layer groups
@pytest.mark.parametrize(
    ("kind", "blocks"),
    [("clip", 2), ("vit", 2), ("dinov2", 2), pytest.param("resnet", 4, marks=pytest.mark.slow)],
)
def test_layer_groups_order_and_freezing(kind: str, blocks: int) -> None:
    enc = imagevec.create_encoder(
        str(tiny_model(kind)), device="cpu", engine="torch", projection_dim=4
    )
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
