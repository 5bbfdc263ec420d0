"""Red-team cases for image content: slivers with extreme aspect ratios (work bounded by the
output size), an exception of one input never escapes ``on_error="skip"`` (MemoryError
included), sparse giant files refused from their size before being read, truncated JPEGs
indexed with a warning, ICO frames checked against the pixel cap before decoding."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

import imagevec.batching
import imagevec.store.ingest
from imagevec.cli import EXIT_OK, main
from imagevec.errors import ImageTooLargeError
from imagevec.index import ImageIndex
from imagevec.io.decode import load_image
from imagevec.preprocess import Preprocess
from tests.support.color_encoder import ColorEncoder


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


@pytest.mark.slow  # a fresh Python process
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


# --- giant sparse files, truncated JPEGs, icons ----------------------------------------------


def test_a_sparse_giant_file_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (40, 30), (220, 10, 10)).save(folder / "red.png")
    with open(folder / "huge.jpg", "wb") as handle:
        handle.truncate(2 * 2**30)  # 2 GiB, no block on disk
    hashed: list[str] = []
    real = imagevec.store.ingest.sha256_file
    monkeypatch.setattr(
        imagevec.store.ingest, "sha256_file", lambda p: hashed.append(p.name) or real(p)
    )
    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        report = index.add(folder)
        assert report.indexed == 1 and hashed == ["red.png"]
        assert [Path(f.source).name for f in report.failed] == ["huge.jpg"]
        assert "over the 52428800-byte limit" in report.failed[0].reason
        with pytest.raises(ImageTooLargeError):
            index.add(folder / "huge.jpg", on_error="raise")


def _truncated_jpeg(path: Path) -> Path:
    """A real photo whose scan data stops at 60 % but still ends with an EOI marker."""
    buffer = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    path.write_bytes(data[: int(len(data) * 0.6)] + b"\xff\xd9")
    return path


def test_a_truncated_jpeg_is_indexed_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(skimage.data.coffee()).save(folder / "whole.jpg", quality=90)
    Image.new("RGB", (300, 200), (128, 128, 128)).save(folder / "grey.jpg")  # truly grey
    _truncated_jpeg(folder / "cut.jpg")
    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        report = index.add(folder)
        assert report.indexed == 3 and report.ok
        assert [Path(w.source).name for w in report.warnings] == ["cut.jpg"]
        assert "truncated" in report.warnings[0].reason
        assert "1 indexed with a warning" in report.summary()
        records = dict(index.iter_metadata())
    warned = {Path(m["uri"]).name: m.get("warning") for m in records.values()}
    assert warned["whole.jpg"] is None and warned["grey.jpg"] is None
    assert "the last" in warned["cut.jpg"] and "grey fill" in warned["cut.jpg"]
    db = str(tmp_path / "db2")
    assert main(["index", str(folder), "--db", db, "-m", "test-color"]) == EXIT_OK
    assert f"warning: {folder / 'cut.jpg'}: possibly truncated JPEG" in capsys.readouterr().out


def _icon_with_png_frame(side: int) -> bytes:
    """An ICO of one PNG frame of ``side`` x ``side`` (a directory entry says 256 at most)."""
    png = io.BytesIO()
    Image.new("RGB", (side, side), (30, 60, 90)).save(png, "PNG")
    frame = png.getvalue()
    header = struct.pack("<HHH", 0, 1, 1)
    said = side if side < 256 else 0  # 0 means 256
    entry = struct.pack("<BBBBHHII", said, said, 0, 0, 1, 32, len(frame), 6 + 16)
    return header + entry + frame


def test_icon_frames_are_checked_against_the_pixel_cap_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PIL import IcoImagePlugin

    decoded: list[int] = []
    real = IcoImagePlugin.IcoFile.frame
    monkeypatch.setattr(
        IcoImagePlugin.IcoFile, "frame", lambda self, i: decoded.append(i) or real(self, i)
    )
    with pytest.raises(ImageTooLargeError, match="2000x2000"):
        load_image(_icon_with_png_frame(2000), max_pixels=1_000_000)
    assert decoded == []  # refused from the frame's own header, nothing decoded
    assert load_image(_icon_with_png_frame(64)).size == (64, 64)
