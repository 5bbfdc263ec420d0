"""Red-team cases for image content: slivers with extreme aspect ratios (work bounded by the
output size), an exception of one input never escapes ``on_error="skip"`` (MemoryError
included), sparse giant files refused from their size before being read, truncated JPEGs
indexed with a warning, ICO frames checked against the pixel cap before decoding."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.support.color_encoder import ColorEncoder

import imagevec.batching
from imagevec.preprocess import Preprocess


class CropColour(ColorEncoder):
    """The colour encoder with a CLIP-like preprocess: short side to 224, centre crop."""

    preprocess = Preprocess(("shortest", 224), (224, 224))


@pytest.fixture
def sliver_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (1, 30000), (10, 200, 10)).save(folder / "sliver.png")  # ~100 bytes
    Image.new("RGB", (30000, 2), (10, 10, 200)).save(folder / "wide.png")
    Image.new("RGB", (64, 48), (220, 10, 10)).save(folder / "red.png")
    return folder


def test_sliver_preprocess_is_bounded_by_the_output(tmp_path: Path) -> None:
    """A 1 x 10000 PNG used to cost ~1.5 GB (short side scaled up to 224 before the crop)."""
    script = textwrap.dedent(
        """
        import resource
        from PIL import Image
        from imagevec.preprocess import Preprocess
        pre = Preprocess(("shortest", 224), (224, 224))
        pre.to_array(Image.new("RGB", (300, 200)))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for size in ((1, 10000), (10000, 1), (3, 7000)):
            assert pre.to_array(Image.new("RGB", size, (9, 9, 9))).shape == (224, 224, 3)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert int(done.stdout.strip()) < 100, f"grew by {done.stdout.strip()} MB"


def test_crop_first_keeps_the_picture() -> None:
    rng = np.random.default_rng(0)
    pre = Preprocess(("shortest", 224), (224, 224))
    image = Image.fromarray(rng.integers(0, 255, (60, 1000, 3), dtype=np.uint8))
    width, height = pre.resized_size(*image.size)
    left = (width - 224) // 2
    full = np.asarray(image.resize((width, height), Image.Resampling.BICUBIC))
    full = full[:, left : left + 224]
    assert np.abs(pre.to_array(image).astype(int) - full).mean() < 1.0


def test_slivers_are_indexed_with_the_good_photos(tmp_path: Path, sliver_dir: Path) -> None:
    report = CropColour(device="cpu").encode_images(sorted(sliver_dir.iterdir()), on_error="skip")
    assert report.indices == [0, 1, 2] and report.ok


def test_no_exception_of_one_input_escapes_skip(
    monkeypatch: pytest.MonkeyPatch, sliver_dir: Path
) -> None:
    real = imagevec.batching.load_image

    def hostile(source, **options):
        if Path(source).name == "sliver.png":
            raise MemoryError
        if Path(source).name == "wide.png":
            raise RuntimeError("a decoder bug")
        return real(source, **options)

    monkeypatch.setattr(imagevec.batching, "load_image", hostile)
    sources = sorted(sliver_dir.iterdir())
    report = CropColour(device="cpu").encode_images(sources, on_error="skip")
    assert report.indices == [0]  # red.png, embedded
    reasons = {Path(f.source).name: f.reason for f in report.failures}
    assert "MemoryError" in reasons["sliver.png"] and "a decoder bug" in reasons["wide.png"]
    with pytest.raises(MemoryError):
        CropColour(device="cpu").encode_images(sources, on_error="raise")
