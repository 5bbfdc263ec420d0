"""Red-team cases for files and folders: every image-like entry that is not indexed is named
with a reason (FIFO, symlink loop, dangling symlink, device, unsupported format), and walking
never blocks on a FIFO. Each case reproduces a finding of issue 11 against main."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from PIL import Image

from imagevec.cli import EXIT_PARTIAL, main
from imagevec.index import ImageIndex
from imagevec.io.files import Skipped, iter_image_files, scan_image_files

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs and symlinks are POSIX")


@pytest.fixture
def hostile_dir(tmp_path: Path) -> Path:
    """One good photo next to image-named entries that are not image files."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(folder / "good.jpg")
    os.mkfifo(folder / "pipe.jpg")
    (folder / "dangling.png").symlink_to(folder / "gone.png")
    (folder / "loop_a.jpg").symlink_to(folder / "loop_b.jpg")
    (folder / "loop_b.jpg").symlink_to(folder / "loop_a.jpg")
    (folder / "null.jpg").symlink_to(os.devnull)
    (folder / "drawing.psd").write_bytes(b"8BPS" + bytes(16))
    (folder / "notes.txt").write_text("not image-like: neither indexed nor reported")
    os.mkfifo(folder / "plain_fifo")  # not image-like either
    return folder


EXPECTED = {
    "pipe.jpg": "FIFO",
    "dangling.png": "dangling symlink",
    "loop_a.jpg": "symlink loop",
    "loop_b.jpg": "symlink loop",
    "null.jpg": "character device",
    "drawing.psd": "unsupported image format",
}


def _within(seconds: float, work) -> object:
    """Run ``work`` in a thread; fail (instead of hanging the suite) if it blocks."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"blocked for more than {seconds} s (a FIFO opened?)"
    return result[0]


@posix_only
def test_walk_names_every_image_like_entry_it_skips(hostile_dir: Path) -> None:
    entries = _within(10, lambda: list(scan_image_files(hostile_dir)))
    files = [e.name for e in entries if isinstance(e, Path)]
    skipped = {e.path.name: e.reason for e in entries if isinstance(e, Skipped)}
    assert files == ["good.jpg"]
    assert skipped.keys() == EXPECTED.keys()
    for name, words in EXPECTED.items():
        assert words in skipped[name], (name, skipped[name])
    assert [p.name for p in iter_image_files(hostile_dir)] == ["good.jpg"]


@posix_only
def test_a_fifo_named_explicitly_is_skipped_not_opened(hostile_dir: Path) -> None:
    entries = _within(10, lambda: list(scan_image_files([hostile_dir / "pipe.jpg"])))
    assert entries == [Skipped(hostile_dir / "pipe.jpg", "not a regular file (FIFO)")]


@posix_only
def test_index_counts_and_names_skipped_files(tmp_path: Path, hostile_dir: Path) -> None:
    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        report = _within(60, lambda: index.add(hostile_dir))
        assert report.indexed == 1 and index.count() == 1
    failed = {Path(f.source).name: f.reason for f in report.failed}
    assert failed.keys() == EXPECTED.keys()
    assert f"failed {len(EXPECTED)}" in report.summary()


@posix_only
def test_cli_lists_skipped_files_and_exits_1(
    tmp_path: Path, hostile_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["index", str(hostile_dir), "--db", str(tmp_path / "db"), "-m", "test-color"]
    code = _within(60, lambda: main(args))
    out = capsys.readouterr().out
    assert code == EXIT_PARTIAL and "indexed 1," in out
    for name in EXPECTED:
        assert f"failed: {hostile_dir / name}: " in out
