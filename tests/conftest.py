"""Shared fixtures: real sample photos on disk, a bad-files folder, the small colour encoder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# exported graphs go to a cache of this test run (subprocesses inherit it), never ~/.cache
os.environ.setdefault("IMAGEVEC_CACHE", tempfile.mkdtemp(prefix="imagevec-test-cache-"))
# The default index lives in the user's data folder: never the real one in tests (subprocesses
# inherit this). A test that needs its own sets XDG_DATA_HOME or IMAGEVEC_DB with monkeypatch.
os.environ.pop("IMAGEVEC_DB", None)
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="imagevec-tests-data-")

from tests.support import color_encoder  # registers "test-color"


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of the real sample photos (scikit-image + scikit-learn) as JPEG files."""
    from imagevec.samples import write_sample_photos

    folder = tmp_path_factory.mktemp("photos")
    write_sample_photos(folder)
    return folder


@pytest.fixture
def colour_dir(tmp_path: Path) -> Path:
    """Solid red, green and blue pictures (PNG), for the colour encoder."""
    for name, rgb in (("red", (220, 10, 10)), ("green", (10, 200, 10)), ("blue", (10, 10, 230))):
        Image.new("RGB", (64, 48), rgb).save(tmp_path / f"{name}.png")
    return tmp_path


@pytest.fixture
def messy_dir(tmp_path: Path) -> Path:
    """Good photos next to a corrupt JPEG, a text file, an empty file and a PNG with alpha."""
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(tmp_path / "good1.jpg")
    Image.new("RGBA", (30, 30), (255, 0, 0, 128)).save(tmp_path / "alpha.png")
    good = (tmp_path / "good1.jpg").read_bytes()
    (tmp_path / "corrupt.jpg").write_bytes(good[: len(good) // 3])
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "fake.png").write_text("this is text, not a png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    return tmp_path


@pytest.fixture(scope="session")
def color_encoder_instance() -> color_encoder.ColorEncoder:
    """The colour encoder (``create_encoder("test-color")``)."""
    return color_encoder.ColorEncoder(device="cpu")


@pytest.fixture(scope="session")
def default_encoder() -> Any:
    """The bundled default encoder on CPU in float32, loaded once for the whole run.

    Shared by every test that needs it: never change its weights or attributes.
    """
    from tests.support.shared import default_encoder as shared

    return shared()
