"""Image queries on a default collection run the image tower in numpy, without torch."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from imagevec.encoders.default import image_query
from imagevec.encoders.default.checkpoint import bundled_checkpoint, read_legacy_checkpoint
from imagevec.encoders.pooling import GEM_P
from imagevec.encoders.registry import create_encoder, resolve
from imagevec.errors import ImageLoadError
from imagevec.index import ImageIndex

KEEP = ("chelsea", "rocket", "coffee", "astronaut")


@pytest.fixture(scope="module")
def photos(photo_dir: Path) -> list[Path]:
    return [photo_dir / f"{name}.jpg" for name in KEEP]


@pytest.fixture(scope="module")
def default_db(tmp_path_factory: pytest.TempPathFactory, default_encoder: Any, photos: list[Path]):
    db = tmp_path_factory.mktemp("image-query") / "db"
    with ImageIndex(db, encoder=default_encoder) as index:
        assert index.add(photos).indexed == len(photos)
    return db


def test_the_checkpoint_reads_as_torch_reads_it() -> None:
    mine = read_legacy_checkpoint(bundled_checkpoint())
    reference = torch.load(bundled_checkpoint(), map_location="cpu", weights_only=True)
    assert list(mine) == list(reference)
    for key, tensor in reference.items():
        np.testing.assert_array_equal(mine[key], tensor.numpy(), err_msg=key)


def test_a_checkpoint_with_code_in_it_is_refused(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.pth"
    with open(hostile, "wb") as handle:
        for part in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(part, handle, protocol=2)
        pickle.dump({"w": print}, handle, protocol=2)  # a global that is not a tensor
    with pytest.raises(ValueError, match=r"refused to unpickle .*print"):
        read_legacy_checkpoint(hostile)
    short = tmp_path / "short.pth"
    short.write_bytes(bundled_checkpoint().read_bytes()[:-1000])
    with pytest.raises(ValueError, match="truncated"):
        read_legacy_checkpoint(short)


@pytest.mark.parametrize(
    "pooling",
    [
        "gem",
        pytest.param("avg", marks=pytest.mark.slow),
        pytest.param("max", marks=pytest.mark.slow),
    ],
)
def test_the_numpy_tower_gives_the_encoders_vectors(
    photos: list[Path], pooling: str, default_encoder: Any
) -> None:
    same = pooling == default_encoder.pooling
    encoder = default_encoder if same else create_encoder("default", pooling=pooling)
    embed = image_query.image_embedder(
        resolve("default"), encoder.model_config(), encoder.fingerprint
    )
    assert embed is not None and embed.dim == encoder.dim
    mine = embed(photos)
    reference = encoder.embed_images(photos)
    assert np.abs(mine - reference).max() < 1e-5
    assert (mine * reference).sum(axis=1).min() > 0.99999


def test_another_fingerprint_or_a_projection_takes_the_encoder_path(default_encoder: Any) -> None:
    config = default_encoder.model_config()
    ref = resolve("default")
    assert image_query.image_embedder(ref, config, "0123456789abcdef") is None
    assert image_query.image_embedder(ref, {**config, "projection_dim": 64}, "x") is None
    assert image_query.image_embedder(ref, {**config, "pooling": "attention"}, "x") is None
    assert image_query.GEM_P == GEM_P


@pytest.mark.slow  # a fresh Python process
def test_search_by_image_needs_no_torch_and_equals_the_encoder_path(
    default_db: Path, photos: list[Path]
) -> None:
    code = f"""
import json, sys
from imagevec.index import ImageIndex
with ImageIndex({str(default_db)!r}) as index:
    hits = index.search(image={str(photos[0])!r}, k=4)
print(json.dumps({{"torch": "torch" in sys.modules, "hits": [[h.id, h.score] for h in hits]}}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, check=True
    )
    light = json.loads(done.stdout.strip().splitlines()[-1])
    assert light["torch"] is False
    with ImageIndex(default_db) as index:
        full = index.encoder.embed_images([photos[0]])[0]
        reference = index.search(vector=full, k=4)
    assert [i for i, _ in light["hits"]] == [h.id for h in reference]
    for (_, score), hit in zip(light["hits"], reference, strict=True):
        assert score == pytest.approx(hit.score, abs=1e-5)


def test_a_bad_query_image_is_the_same_clear_error(default_db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a picture")
    with ImageIndex(default_db) as index, pytest.raises(ImageLoadError, match=r"bad\.jpg"):
        index.search(image=bad, k=2)
