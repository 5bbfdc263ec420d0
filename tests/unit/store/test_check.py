"""Red-team cases for damaged stores and model folders: each becomes a typed error (exit 3)
or is repaired on open from the store's log, never a traceback, a segfault or wrong hits.

A damaged vector index used to segfault ``search`` (random bytes in ``data_level0.bin``), or
answer with wrong hits and exit 0 (its folder deleted, or only ``chroma.sqlite3`` backed up);
a damaged ``chroma.sqlite3`` gave a traceback, and a 0-byte one read as "no collection"."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import imagevec
from imagevec.cli import EXIT_ERROR, main
from imagevec.errors import ModelLoadError, StoreDamagedError
from imagevec.index import ImageIndex
from imagevec.store import integrity

N = 1100  # enough for Chroma to move most vectors from its log into the HNSW files


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A store of N tiny photos whose vectors are (mostly) in Chroma's HNSW files."""
    root = tmp_path_factory.mktemp("store")
    photos = root / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for number in range(N):
        pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(photos / f"p{number:04d}.png")
    with ImageIndex(root / "db", encoder="test-color") as index:
        assert index.add(photos, batch_size=256).indexed == N
    assert list((root / "db").glob("*/data_level0.bin"))
    return photos, root / "db"


def _segment(db: Path) -> Path:
    return next(db.glob("*/header.bin")).parent


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


DAMAGE = {
    "empty-sqlite": lambda db: (db / "chroma.sqlite3").write_bytes(b""),
    "truncated-sqlite": lambda db: _truncate(db / "chroma.sqlite3", 0.3),
    "sqlite-header": lambda db: _overwrite(db / "chroma.sqlite3", 0, b"garbage!" * 4),
    "random-level0": lambda db: _randomise(_segment(db) / "data_level0.bin"),
    "random-links": lambda db: _overwrite(_segment(db) / "link_lists.bin", 8, os.urandom(64)),
    "segment-deleted": lambda db: shutil.rmtree(_segment(db)),
    "sqlite-only-backup": lambda db: [shutil.rmtree(p) for p in db.iterdir() if p.is_dir()],
}


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def _randomise(path: Path) -> None:
    path.write_bytes(np.random.default_rng(1).bytes(path.stat().st_size))


@pytest.mark.parametrize(
    "damage",
    [  # random bytes may crash Chroma's native code: checked in a fresh process, slow tier
        pytest.param(name, marks=pytest.mark.slow) if name.startswith("random") else name
        for name in DAMAGE
    ],
)
def test_a_damaged_store_is_a_clear_error(
    damage: str, built: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos, source = built
    db = tmp_path / "db"
    shutil.copytree(source, db)
    DAMAGE[damage](db)
    script = (
        "import sys, tests.support.color_encoder; from imagevec.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    args = ["search", "--image", str(photos / "p0003.png"), "--db", str(db), "-k", "3"]
    if damage not in ("empty-sqlite", "truncated-sqlite", "sqlite-header"):  # rebuilt from the log
        done = subprocess.run(
            [sys.executable, "-c", script, *args, "--paths-only"],
            capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[3],
        )  # fmt: skip
        assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
        assert Path(done.stdout.splitlines()[0]).name == "p0003.png"
        return
    if not damage.startswith("random"):  # cannot crash the process: checked in-process
        assert main(args) == EXIT_ERROR
        err = capsys.readouterr().err
        assert "is damaged" in err and "imagevec check --repair" in err
        return
    done = subprocess.run(  # a subprocess: a segfault must fail this test, not kill pytest
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[3],
    )
    assert done.returncode == EXIT_ERROR, (done.returncode, done.stdout, done.stderr[-2000:])
    assert "is damaged" in done.stderr and "imagevec check --repair" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_sound_store_is_checked_once(
    built: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos, source = built
    db = tmp_path / "db"
    shutil.copytree(source, db)
    (db / integrity.SIDECAR).unlink(missing_ok=True)
    with ImageIndex(db) as index:
        assert index.search(image=photos / "p0003.png", k=1)[0].score > 0.9999
    assert integrity.is_clean(db)

    def refuse(folder: Path) -> None:
        raise AssertionError("checked again although nothing changed")

    monkeypatch.setattr(integrity, "verify_files", refuse)
    with ImageIndex(db) as index:
        assert index.count() == N


def test_a_stamp_that_is_not_a_json_object_is_a_clear_error(
    tmp_path: Path, colour_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import chromadb

    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as index:
        index.add(colour_dir)
    for config in ("{not json", "[1, 2]"):
        client = chromadb.PersistentClient(path=str(db))
        collection = client.get_collection("images")
        collection.modify(metadata={**collection.metadata, "imagevec:config": config})
        with pytest.raises(StoreDamagedError, match="not a JSON object"):
            ImageIndex(db).search("red")
        assert main(["search", "red", "--db", str(db)]) == EXIT_ERROR
        assert "is damaged" in capsys.readouterr().err


def test_a_lock_path_that_is_a_directory_is_a_clear_error(
    tmp_path: Path, colour_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as index:
        index.add(colour_dir)
    (db / "imagevec.lock").unlink()
    (db / "imagevec.lock").mkdir()
    assert main(["search", "red", "--db", str(db)]) == EXIT_ERROR
    assert "lock file imagevec.lock is a directory" in capsys.readouterr().err


def test_model_folders_with_bad_json_or_pickled_weights(tmp_path: Path) -> None:
    from tests.tiny_models import build_tiny_vit

    bad_json = build_tiny_vit(tmp_path / "bad-json")
    (bad_json / "imagevec.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        imagevec.create_encoder(str(bad_json), device="cpu")
    (bad_json / "imagevec.json").write_text("[]")
    with pytest.raises(ModelLoadError, match="JSON object"):
        imagevec.create_encoder(str(bad_json), device="cpu")

    pickled = build_tiny_vit(tmp_path / "pickled")
    for weights in pickled.glob("*.safetensors"):
        weights.unlink()
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (pickled / "pytorch_model.bin").write_bytes(pickle.dumps({"w": Payload()}))
    with pytest.raises(ModelLoadError, match="pickle"):
        imagevec.create_encoder(str(pickled), device="cpu")
    assert not marker.exists()


def test_json_of_the_sidecar_is_not_trusted_blindly(tmp_path: Path, colour_dir: Path) -> None:
    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as index:
        index.add(colour_dir)
    (db / integrity.SIDECAR).write_text(json.dumps({"files": {"chroma.sqlite3": [1, 2]}}))
    assert not integrity.is_clean(db)
    integrity.mark_clean(db)
    assert integrity.is_clean(db)


def _purge_log(db: Path) -> None:
    """Make the store look written by an older imagevec (Chroma purged its log)."""
    import sqlite3

    with sqlite3.connect(db / "chroma.sqlite3") as conn:
        conn.execute("DELETE FROM embeddings_queue WHERE seq_id < 50")


@pytest.mark.slow  # re-embeds a folder per damage
@pytest.mark.parametrize("damage", ["random-level0", "segment-deleted"])
def test_check_finds_the_damage_and_repair_rebuilds_from_the_files(
    damage: str, built: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos, source = built
    db = tmp_path / "db"
    shutil.copytree(source, db)
    _purge_log(db)  # with the log complete, the index is rebuilt from it instead
    DAMAGE[damage](db)
    (photos / "p0007.png").rename(photos / "p0007.moved")  # a file that cannot come back
    try:
        assert main(["check", "--db", str(db)]) == EXIT_ERROR
        assert "PROBLEMS" in capsys.readouterr().out
        main(["check", "--db", str(db), "--repair", "--json"])  # exit 3: one file is lost
        report = json.loads(capsys.readouterr().out)
        (images,) = report["collections"]
        assert images["records"] == N and images["repaired"] >= 40  # the purged part
        assert images["lost"] == [str(photos / "p0007.png")]
        assert images["why"] == {str(photos / "p0007.png"): "the image file is gone"}
    finally:
        (photos / "p0007.moved").rename(photos / "p0007.png")
    with ImageIndex(db) as index:
        assert index.count() == N - 1
        hit = index.search(image=photos / "p0003.png", k=1)[0]
        assert Path(hit.uri).name == "p0003.png" and hit.score > 0.9999
    assert main(["check", "--db", str(db)]) == 0
