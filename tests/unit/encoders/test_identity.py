"""Encoder identity: the fingerprint names the weights and options, not dtype or device.

This CPU may lack native bfloat16 (the encoders then fall back to float32 with a warning), so
the tests force the cast path: ``cpu_supports_bfloat16`` is patched to say yes, and the
weights really run in bfloat16 (emulated, slower, same numbers as on a GPU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import imagevec
from imagevec.encoders import runtime
from imagevec.errors import EncoderMismatchError
from tests.tiny_models import tiny_model


@pytest.fixture
def bf16(monkeypatch: pytest.MonkeyPatch) -> str:
    """Make ``dtype="bfloat16"`` really cast on this CPU; returns the dtype name."""
    monkeypatch.setattr(runtime, "cpu_supports_bfloat16", lambda: True)
    return "bfloat16"


@pytest.mark.parametrize("kind", ["clip", "resnet"])
def test_fingerprint_ignores_dtype_but_not_options(kind: str, bf16: str) -> None:
    folder = str(tiny_model(kind))
    full = imagevec.create_encoder(folder, device="cpu")
    low = imagevec.create_encoder(folder, device="cpu", dtype=bf16)
    assert low.dtype == torch.bfloat16
    assert next(low.backbone.parameters()).dtype == torch.bfloat16  # the cast really happened
    assert low.fingerprint == full.fingerprint
    assert low.config["dtype"] == "bfloat16" and low.identity == full.identity
    projected = imagevec.create_encoder(folder, device="cpu", projection_dim=8)
    assert projected.fingerprint != full.fingerprint


def test_default_encoder_fingerprint_ignores_dtype(
    default_encoder: imagevec.Encoder, bf16: str
) -> None:
    low = imagevec.create_encoder("default", device="cpu", dtype=bf16)
    assert next(low.modules()["image"].parameters()).dtype == torch.bfloat16
    assert low.fingerprint == default_encoder.fingerprint


def test_trained_weights_change_the_fingerprint(bf16: str) -> None:
    enc = imagevec.create_encoder(str(tiny_model("resnet")), device="cpu", dtype=bf16)
    before = enc.fingerprint
    with torch.no_grad():
        next(enc.backbone.parameters()).add_(1.0)
    enc.weights_changed()
    assert enc.fingerprint != before


@pytest.mark.parametrize(("write", "read"), [("bfloat16", "float32"), ("float32", "bfloat16")])
def test_index_written_in_one_dtype_opens_and_searches_in_the_other(
    write: str, read: str, bf16: str, photo_dir: Path, tmp_path: Path
) -> None:
    folder = str(tiny_model("clip"))
    db = tmp_path / "db"
    photos = sorted(photo_dir.glob("*.jpg"))[:6]
    with imagevec.ImageIndex(db, encoder=folder, device="cpu", dtype=write) as index:
        assert index.add(photos).ok
    with imagevec.ImageIndex(db, device="cpu", dtype=read) as index:  # the stamped encoder
        assert index.encoder.config.get("dtype", "float32") == read
        for photo in photos:
            top = index.search(image=photo, k=1)[0]
            assert Path(top.uri).name == photo.name and top.score >= 0.99
        assert len(index.search("a photo", k=3)) == 3


def test_other_weights_are_a_mismatch_that_names_both_fingerprints(
    photo_dir: Path, tmp_path: Path
) -> None:
    db = tmp_path / "db"
    with imagevec.ImageIndex(db, encoder=str(tiny_model("resnet")), device="cpu") as index:
        index.add(sorted(photo_dir.glob("*.jpg"))[:2])
    other = imagevec.create_encoder(str(tiny_model("resnet")), device="cpu", projection_dim=8)
    with pytest.raises(EncoderMismatchError) as caught:
        imagevec.ImageIndex(db, encoder=other)
    error = caught.value
    assert error.found["fingerprint"] != error.expected["fingerprint"]
    assert "--model" not in str(error) and "fingerprint" in str(error)
    assert np.isfinite(other.embed_images(sorted(photo_dir.glob("*.jpg"))[:1])).all()
