"""ImageIndex with the colour encoder: add/search, idempotent re-index, updates, duplicates,
prune/delete, metadata, bad files, encoder stamp checks and the folder lock."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

import imagevec
from imagevec.errors import (
    ConfigError,
    EncoderMismatchError,
    ImageLoadError,
    StoreLockedError,
    StoreNotFoundError,
)
from imagevec.index import ImageIndex, list_collections
from tests.support.color_encoder import ColorEncoder


@pytest.fixture
def index(tmp_path: Path) -> ImageIndex:
    with ImageIndex(tmp_path / "db", encoder="test-color") as opened:
        yield opened


def _stems(hits: list) -> list[str]:
    return [Path(hit.uri).stem for hit in hits]


def test_add_then_search_by_text_image_and_vector(index: ImageIndex, colour_dir: Path) -> None:
    report = index.add(colour_dir)
    assert (report.indexed, report.embedded, report.failed) == (3, 3, [])
    assert index.count() == len(index) == 3
    hits = index.search("red", k=3)
    assert _stems(hits)[0] == "red" and hits[0].score > 0.9
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].uri == str((colour_dir / "red.png").resolve())
    meta = hits[0].metadata
    assert (meta["width"], meta["height"], meta["format"], meta["filename"]) == (
        64,
        48,
        "PNG",
        "red.png",
    )
    assert meta["bytes"] == (colour_dir / "red.png").stat().st_size and len(meta["sha256"]) == 64
    assert _stems(index.search(image=colour_dir / "blue.png", k=1)) == ["blue"]
    vector = index.encoder.embed_texts(["green"])[0]
    assert _stems(index.search(vector=vector, k=1)) == ["green"]
    assert isinstance(hits[0], imagevec.Hit)


def test_search_needs_exactly_one_query(index: ImageIndex, colour_dir: Path) -> None:
    index.add(colour_dir)
    with pytest.raises(ConfigError):
        index.search()
    with pytest.raises(ConfigError):
        index.search("red", image=colour_dir / "red.png")
    with pytest.raises(ImageLoadError):
        index.search(image=colour_dir / "missing.png")


def test_reindex_is_idempotent_and_embeds_nothing(index: ImageIndex, colour_dir: Path) -> None:
    index.add(colour_dir)
    again = index.add([colour_dir])
    assert (again.indexed, again.updated, again.unchanged, again.embedded) == (0, 0, 3, 0)
    assert index.count() == 3


def test_touched_file_is_hashed_not_embedded(index: ImageIndex, colour_dir: Path) -> None:
    index.add(colour_dir)
    red = colour_dir / "red.png"
    os.utime(red, ns=(1_000_000_000, 1_000_000_000))
    report = index.add(colour_dir)
    assert (report.unchanged, report.embedded) == (3, 0)
    assert index.search("red", k=1)[0].metadata["mtime_ns"] == 1_000_000_000


def test_changed_file_is_updated_in_place(index: ImageIndex, colour_dir: Path) -> None:
    index.add(colour_dir)
    Image.new("RGB", (64, 48), (20, 190, 20)).save(colour_dir / "red.png")  # now green
    report = index.add(colour_dir)
    assert (report.updated, report.unchanged, report.embedded) == (1, 2, 1)
    assert index.count() == 3
    assert set(_stems(index.search("green", k=2))) == {"red", "green"}


def test_identical_files_are_two_records_embedded_once(index: ImageIndex, colour_dir: Path) -> None:
    shutil.copy(colour_dir / "red.png", colour_dir / "red-copy.png")
    report = index.add(colour_dir)
    assert (report.indexed, report.embedded) == (4, 3)
    other = colour_dir / "more"
    other.mkdir()
    shutil.copy(colour_dir / "blue.png", other / "blue-again.png")
    report = index.add(colour_dir)  # content already stored: vector reused
    assert (report.indexed, report.unchanged, report.embedded) == (1, 4, 0)
    assert set(_stems(index.search("red", k=2))) == {"red", "red-copy"}


def test_prune_removes_gone_files_only_under_given_roots(
    index: ImageIndex, colour_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    Image.new("RGB", (8, 8), "white").save(elsewhere / "white.png")
    index.add([colour_dir, elsewhere])
    (colour_dir / "green.png").unlink()
    (elsewhere / "white.png").unlink()
    report = index.add(colour_dir, prune=True)
    assert report.pruned == 1 and index.count() == 3  # white.png is outside colour_dir
    assert index.prune() == 1 and index.count() == 2


def test_delete_by_file_folder_id_and_filter(
    index: ImageIndex, colour_dir: Path, tmp_path: Path
) -> None:
    sub = colour_dir / "sub"
    sub.mkdir()
    Image.new("RGB", (8, 8), "yellow").save(sub / "yellow.png")
    index.add(colour_dir, metadatas=lambda p: {"tone": "warm" if p.stem == "red" else "cold"})
    assert index.delete([sub]) == 1
    assert index.delete([colour_dir / "green.png"]) == 1
    assert index.delete(where={"tone": "warm"}) == 1
    blue_id = index.search("blue", k=1)[0].id
    assert index.delete(ids=[blue_id]) == 1 and index.count() == 0


def test_metadata_forms_and_filtered_search(
    index: ImageIndex, colour_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other")
    Image.new("RGB", (8, 8), (230, 0, 0)).save(other / "dark-red.png")
    index.add([colour_dir, other], metadatas=[{"album": "a"}, {"album": "b"}])
    hits = index.search("red", k=5, where={"album": "b"})
    assert _stems(hits) == ["dark-red"]
    report = index.add(colour_dir, metadatas={"album": "c"})  # new fields, same pixels
    assert (report.unchanged, report.embedded) == (3, 0)
    assert {h.metadata["album"] for h in index.search("red", k=5, where={"album": "c"})} == {"c"}
    with pytest.raises(ConfigError, match="reserved"):
        index.add(colour_dir, metadatas={"uri": "x"})
    with pytest.raises(ConfigError, match="metadatas"):
        index.add([colour_dir], metadatas=[{}, {}])
    with pytest.raises(ConfigError, match="paths"):
        index.add([b"\x89PNG..."])


def test_messy_folder_indexes_the_good_and_reports_the_rest(
    index: ImageIndex, messy_dir: Path
) -> None:
    report = index.add([messy_dir, messy_dir / "nope"])
    assert report.indexed == 2 and index.count() == 2  # good1.jpg, alpha.png
    failed = {Path(f.source).name: f.reason for f in report.failed}
    assert set(failed) == {"corrupt.jpg", "fake.png", "empty.jpg", "nope"}
    assert all(failed.values()) and not report.ok
    assert report.to_dict()["failed"][0].keys() == {"file", "reason"}
    assert "failed 4" in report.summary()
    with pytest.raises(ImageLoadError):
        index.add(messy_dir, on_error="raise")


def test_reopen_without_encoder_uses_the_stamp(tmp_path: Path, colour_dir: Path) -> None:
    with ImageIndex(tmp_path / "db", collection="colours", encoder="test-color") as first:
        first.add(colour_dir)
    with ImageIndex(tmp_path / "db", collection="colours") as again:
        assert again.stamp["model"] == "test-color"
        assert _stems(again.search("blue", k=1)) == ["blue"]
        assert again.encoder.name == "test-color"
    found = list_collections(tmp_path / "db")
    assert found[0]["name"] == "colours" and found[0]["count"] == 3


def test_other_encoder_is_a_mismatch_error(tmp_path: Path, colour_dir: Path) -> None:
    with ImageIndex(tmp_path / "db", encoder="test-color") as first:
        first.add(colour_dir)
    started = time.monotonic()
    with pytest.raises(EncoderMismatchError, match="encoder='test-color'") as caught:
        ImageIndex(tmp_path / "db", encoder="default")  # refused before loading a model
    assert caught.value.expected["model"] == "test-color"  # type: ignore[index]
    assert caught.value.found == {"model": "default"} and caught.value.differs == ("model",)
    assert time.monotonic() - started < 5

    class Renamed(ColorEncoder):
        name = "test-color-v2"

    with pytest.raises(EncoderMismatchError, match="another collection"):
        ImageIndex(tmp_path / "db", encoder=Renamed(device="cpu"))
    with ImageIndex(
        tmp_path / "db", collection="colours-v2", encoder=Renamed(device="cpu")
    ) as other:
        assert other.add(colour_dir).indexed == 3  # a new collection is fine


def test_unstamped_collection_is_refused(tmp_path: Path, colour_dir: Path) -> None:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(
        str(tmp_path / "db"), settings=Settings(anonymized_telemetry=False)
    )
    client.create_collection("foreign", embedding_function=None)
    client.close()
    with (
        pytest.raises(EncoderMismatchError, match="no imagevec encoder stamp"),
        ImageIndex(tmp_path / "db", collection="foreign", encoder="test-color") as index,
    ):
        index.add(colour_dir)


def test_reading_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    index = ImageIndex(tmp_path / "nowhere", encoder="test-color")
    assert index.count() == 0
    with pytest.raises(StoreNotFoundError, match="no index at") as caught:
        index.search("red")
    assert caught.value.path == str(tmp_path / "nowhere") and "--" not in str(caught.value)
    assert not (tmp_path / "nowhere").exists()
    plain = tmp_path / "plain"  # an existing folder that holds no store: left untouched
    plain.mkdir()
    with pytest.raises(StoreNotFoundError, match="no index at"):
        ImageIndex(plain).search("red")
    assert list(plain.iterdir()) == []
    with pytest.raises(ConfigError, match="either"):
        ImageIndex(tmp_path, url="http://localhost:1")


_HOLD = """
import sys, time
from imagevec.store.locking import acquire
handle = acquire(sys.argv[1], exclusive=sys.argv[2] == "write")
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def other_process(tmp_path: Path):
    procs: list[subprocess.Popen] = []

    def start(folder: Path, mode: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_HOLD), str(folder), mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def test_second_writer_gets_store_locked_error_quickly(
    tmp_path: Path, colour_dir: Path, other_process
) -> None:
    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as first:
        first.add(colour_dir)
    writer = other_process(db, "write")
    started = time.monotonic()
    with pytest.raises(StoreLockedError, match=f"process {writer.pid} is writing"):
        ImageIndex(db, encoder="test-color")
    assert time.monotonic() - started < 2


def test_readers_share_but_block_a_writer(tmp_path: Path, colour_dir: Path, other_process) -> None:
    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as first:
        first.add(colour_dir)
    reader = other_process(db, "read")
    with ImageIndex(db) as index:
        assert _stems(index.search("red", k=1)) == ["red"]  # reading alongside is fine
        with pytest.raises(StoreLockedError, match="another process has it open"):
            index.add(colour_dir)
        assert index.count() == 3  # still usable for reading after the refusal
    reader.kill()
    reader.wait(timeout=10)
    with ImageIndex(db) as index:  # the kernel dropped the dead reader's lock
        assert index.add(colour_dir).unchanged == 3


def test_threads_share_one_client_lock_and_encoder(tmp_path: Path, colour_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        index.add(colour_dir)
    with ImageIndex(tmp_path / "db") as index, ThreadPoolExecutor(8) as pool:
        words = ["red", "green", "blue"] * 8
        tops = list(pool.map(lambda w: _stems(index.search(w, k=1))[0], words))
        assert tops == words
        encoders = set(pool.map(lambda _: id(index.encoder), range(8)))
        assert len(encoders) == 1


def test_same_process_indexes_share_the_lock(tmp_path: Path, colour_dir: Path) -> None:
    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as writer:
        writer.add(colour_dir)
        with ImageIndex(db) as reader:
            assert reader.count() == 3
            writer.add(colour_dir)
    assert not (db / "imagevec.lock").read_text().strip()  # writer pid cleared on close
