"""``create_encoder`` name resolution: short names, ``hf:`` ids (through a fake, offline
Hugging Face cache: the exact path a user hits), folders, exports, and the errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import imagevec
from imagevec.encoders.catalog import CATALOG
from imagevec.encoders.registry import FAMILIES, _loader, resolve
from imagevec.errors import ModelLoadError
from tests.tiny_models import build_tiny_vit, fake_hub_cache, tiny_model

HF_SPECS = [name for name, spec in CATALOG.items() if spec.family in ("clip", "vit", "resnet")]


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache, offline.

    ``huggingface_hub`` reads ``HF_HUB_CACHE`` / ``HF_HUB_OFFLINE`` into ``constants`` at import
    time and looks them up there at call time, so both the environment (for imagevec's own
    check) and the constants are patched.
    """
    import huggingface_hub.constants as constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def _kind(hub_id: str, family: str) -> str:
    return "dinov2" if "dinov2" in hub_id else family


@pytest.fixture(scope="module")
def image() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea())


# ---------------------------------------------------------------------- resolution
@pytest.mark.parametrize("name", HF_SPECS)
def test_catalogue_entries_resolve_to_a_registered_family(name: str) -> None:
    ref = resolve(name)
    spec = CATALOG[name]
    assert (ref.model, ref.family, ref.location, ref.spec) == (name, spec.family, spec.source, spec)
    loader = _loader(spec.family)
    assert callable(loader) and FAMILIES[spec.family].endswith(":load")
    encoder_cls = {"clip": "CLIPEncoder", "vit": "ViTEncoder", "resnet": "ResNetEncoder"}
    cls = getattr(__import__(loader.__module__, fromlist=["_"]), encoder_cls[spec.family])
    assert spec.pooling == cls.poolings[0]  # the catalogue default is the family default


@pytest.mark.parametrize("kind", ["clip", "vit", "dinov2", "resnet"])
def test_save_pretrained_folder_resolves_by_model_type(kind: str) -> None:
    ref = resolve(str(tiny_model(kind)))
    assert ref.family == ("vit" if kind == "dinov2" else kind)
    assert ref.location == str(tiny_model(kind)) and ref.is_local and not ref.saved


def test_exported_folder_resolves_by_imagevec_json(tmp_path: Path) -> None:
    folder = imagevec.create_encoder(str(tiny_model("vit")), device="cpu", engine="torch").save(
        tmp_path / "x"
    )
    ref = resolve(str(folder))
    assert ref.family == "vit" and ref.saved["format"] == 1


def test_bare_hub_id_gets_a_hint() -> None:
    with pytest.raises(ModelLoadError, match=r"Did you mean 'hf:org/name'\?"):
        resolve("org/name")


# ---------------------------------------------------------------------- the hub path, offline
def test_hf_id_loads_from_the_cache(hub_cache: Path, image: Image.Image) -> None:
    fake_hub_cache(hub_cache, "org/tiny-clip", tiny_model("clip"))
    enc = imagevec.create_encoder("hf:org/tiny-clip", device="cpu")
    assert enc.name == enc.config["model"] == "hf:org/tiny-clip"
    direct = imagevec.create_encoder(str(tiny_model("clip")), device="cpu")
    np.testing.assert_array_equal(enc.embed_image(image), direct.embed_image(image))
    np.testing.assert_array_equal(enc.embed_text("a cat"), direct.embed_text("a cat"))
    pinned = imagevec.create_encoder("hf:org/tiny-clip", device="cpu", revision="main")
    assert pinned.config["revision"] == "main"
    np.testing.assert_array_equal(pinned.embed_image(image), direct.embed_image(image))


@pytest.mark.parametrize("name", HF_SPECS)
def test_short_names_load_their_hub_repo(name: str, hub_cache: Path, image: Image.Image) -> None:
    spec = CATALOG[name]
    fake_hub_cache(hub_cache, spec.source, tiny_model(_kind(spec.source, spec.family)))
    enc = imagevec.create_encoder(name, device="cpu")
    assert (enc.name, enc.pooling, enc.modalities) == (name, spec.pooling, set(spec.modalities))
    assert enc.config["model"] == name
    assert enc.embed_image(image).shape == (enc.dim,)


def test_uncached_hub_id_offline_is_a_clear_error(hub_cache: Path) -> None:
    with pytest.raises(ModelLoadError) as info:
        imagevec.create_encoder("hf:org/not-cached", device="cpu")
    message = str(info.value)
    assert "org/not-cached" in message
    assert "Tried: Hugging Face cache" in message and "hub: not tried (HF_HUB_OFFLINE" in message
    assert "How to fix" in message and "`hf download org/not-cached`" in message


def test_cached_config_without_weights_is_a_clear_error(hub_cache: Path) -> None:
    snapshot = fake_hub_cache(hub_cache, "org/no-weights", tiny_model("vit"))
    (snapshot / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError) as info:
        imagevec.create_encoder("hf:org/no-weights", device="cpu")
    message = str(info.value)
    assert "Tried:" in message and "cache" in message and "HF_HUB_OFFLINE" in message


def test_catalogue_name_not_cached_offline_is_a_clear_error(hub_cache: Path) -> None:
    with pytest.raises(ModelLoadError, match="How to fix"):
        imagevec.create_encoder("vit-b16", device="cpu")


# ---------------------------------------------------------------------- folders that are not models
def test_empty_folder_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no config\.json"):
        imagevec.create_encoder(str(tmp_path), device="cpu")


def test_unsupported_model_type_names_the_supported_ones(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelLoadError, match=r"'bert'.*clip"):
        imagevec.create_encoder(str(tmp_path), device="cpu")


def test_folder_without_weights_is_a_clear_error(tmp_path: Path) -> None:
    shutil.copy(tiny_model("resnet") / "config.json", tmp_path / "config.json")
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        imagevec.create_encoder(str(tmp_path), device="cpu")


def test_export_missing_its_projection_file_is_a_clear_error(tmp_path: Path) -> None:
    enc = imagevec.create_encoder(
        str(tiny_model("resnet")), device="cpu", projection_dim=4, engine="torch"
    )
    folder = enc.save(tmp_path / "export")
    (folder / "projection.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="projection"):
        imagevec.create_encoder(str(folder), device="cpu")


def test_classifier_checkpoint_loads_as_its_base_model(tmp_path: Path, image: Image.Image) -> None:
    folder = build_tiny_vit(tmp_path / "cls", classifier=True)
    enc = imagevec.create_encoder(str(folder), device="cpu")  # its pooler (unused) is missing
    assert enc.dim == 32 and enc.embed_image(image).shape == (32,)


def test_checkpoint_missing_weights_is_an_error_not_random_vectors(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(tiny_model("vit"), tmp_path / "partial")
    weights = load_file(folder / "model.safetensors")
    weights = {k: v for k, v in weights.items() if ".1." not in k}  # drop the second block
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match="vectors would be random"):
        imagevec.create_encoder(str(folder), device="cpu")
