"""What a new user hits in the first hour: ``~`` paths, all inputs failing, broken files
remembered between runs (no model load), no empty store left by a failed run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import imagevec
from imagevec.index import ImageIndex
from imagevec.io.policy import SourcePolicy
from imagevec.io.sources import read_source


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake home folder, so that ``~`` means something we control."""
    folder = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(folder))
    return folder


def test_tilde_is_expanded_in_the_api(home: Path, colour_dir: Path) -> None:
    shutil.copytree(colour_dir, home / "Photos")
    with ImageIndex("~/db", encoder="test-color") as index:
        report = index.add(["~/Photos"])
        assert (report.indexed, report.failed) == (3, [])
        assert index.path == home / "db" and (home / "db" / "chroma.sqlite3").is_file()
        hit = index.search(image="~/Photos/red.png", k=1)[0]
        assert Path(hit.uri).name == "red.png"
        assert index.delete(["~/Photos/red.png"]) == 1
    assert read_source("~/Photos/blue.png")[:4] == b"\x89PNG"
    policy = SourcePolicy(path_roots=["~/Photos"])
    assert policy.path_roots == (str(home / "Photos"),)
    assert read_source(home / "Photos" / "green.png", policy=policy)[:4] == b"\x89PNG"


def test_all_inputs_failing_is_loud(tmp_path: Path, messy_dir: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("corrupt.jpg", "fake.png"):
        shutil.copy(messy_dir / name, bad / name)
    with (
        ImageIndex(tmp_path / "db", encoder="test-color") as index,
        pytest.warns(imagevec.AllInputsFailedWarning, match="nothing indexed"),
    ):
        report = index.add([bad, tmp_path / "missing"])
    assert report.all_failed and not report.ok
    assert report.summary().startswith("NOTHING INDEXED: all 3 inputs failed")
    assert report.to_dict()["all_failed"] is True
    assert not (tmp_path / "db").exists()  # nothing written: no empty store left behind


def test_a_run_that_writes_nothing_leaves_no_store(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        report = index.add(empty)
    assert report.total == 0 and not report.all_failed
    assert not (tmp_path / "db").exists()


def test_failures_are_remembered_until_the_file_changes(
    tmp_path: Path, messy_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as index:
        first = index.add(messy_dir)
    assert first.indexed == 2 and {Path(f.source).name for f in first.failed} >= {"corrupt.jpg"}
    failed_names = {Path(f.source).name for f in first.failed}

    # Second run: nothing changed, so the model must not even be loaded.
    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the encoder was loaded for an unchanged folder")

    monkeypatch.setattr("imagevec.encoders.factory.create_encoder", no_model)
    with ImageIndex(db) as index:
        again = index.add(messy_dir)
    assert again.unchanged == 2 and again.failed == [] and again.ok
    assert {Path(f.source).name for f in again.failed_earlier} == failed_names
    assert "failed earlier, unchanged — --retry-failed to try again" in again.summary()
    monkeypatch.undo()

    # A changed file is tried again; --retry-failed tries all of them.
    (messy_dir / "fake.png").write_text("still not a png, but changed")
    os.utime(messy_dir / "fake.png", ns=(1, 1))
    with ImageIndex(db) as index:
        changed = index.add(messy_dir)
        retried = index.add(messy_dir, retry_failed=True)
    assert [Path(f.source).name for f in changed.failed] == ["fake.png"]
    assert len(changed.failed_earlier) == len(failed_names) - 1
    assert {Path(f.source).name for f in retried.failed} == failed_names
    assert retried.failed_earlier == []


def test_a_fixed_file_is_forgotten(tmp_path: Path, messy_dir: Path, colour_dir: Path) -> None:
    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as index:
        index.add(messy_dir)
        shutil.copy(colour_dir / "red.png", messy_dir / "fake.png")  # now a real PNG
        fixed = index.add(messy_dir)
        assert fixed.indexed == 1 and "fake.png" not in {
            Path(f.source).name for f in fixed.failed + fixed.failed_earlier
        }


def _cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    from imagevec.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_remembers_failures_and_exits_1_when_all_fail(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, messy_dir: Path
) -> None:
    db = tmp_path / "db"
    code, out, _ = _cli(capsys, "index", messy_dir, "--db", db, "-m", "test-color")
    assert code == 1 and "indexed 2" in out
    code, out, _ = _cli(capsys, "index", messy_dir, "--db", db)
    assert code == 0 and "failed earlier, unchanged — --retry-failed to try again" in out
    code, out, _ = _cli(capsys, "index", messy_dir, "--db", db, "--retry-failed")
    assert code == 1 and "failed earlier" not in out
    only_bad = tmp_path / "only-bad"
    only_bad.mkdir()
    shutil.copy(messy_dir / "corrupt.jpg", only_bad / "corrupt.jpg")
    fresh = tmp_path / "fresh-db"
    code, out, err = _cli(capsys, "index", only_bad, "--db", fresh, "-m", "test-color")
    assert code == 1 and out.startswith("NOTHING INDEXED") and "Warning" not in err
    assert not fresh.exists()


def test_cli_refuses_db_with_chroma_url(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _cli(
        capsys, "search", "a cat", "--db", tmp_path / "db", "--chroma-url", "http://127.0.0.1:9"
    )
    assert code == 2 and "not both" in err


@pytest.fixture(scope="module")
def default_db(tmp_path_factory: pytest.TempPathFactory, default_encoder: Any) -> Path:
    """Three real sample photos indexed with the bundled default encoder."""
    from imagevec.samples import write_sample_photos

    photos = tmp_path_factory.mktemp("default-photos")
    written = write_sample_photos(photos)
    keep = {"chelsea", "rocket", "coffee"}
    for path in photos.iterdir():
        if path.stem not in keep:
            path.unlink()
    db = tmp_path_factory.mktemp("default-db") / "db"
    with ImageIndex(db, encoder=default_encoder) as index:
        assert index.add(photos).indexed == len(keep), written
    return db


@pytest.mark.slow  # a fresh Python process
def test_text_search_on_the_default_needs_no_torch(default_db: Path) -> None:
    import subprocess
    import sys

    code = f"""
import json, sys
from imagevec.index import ImageIndex
with ImageIndex({str(default_db)!r}) as index:
    hits = index.search("a cat", k=3)
    again = index.search(query="a cat", k=3)  # the CLI's route: a one-part combined query
    assert [h.id for h in again] == [h.id for h in hits]
heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
print(json.dumps({{"heavy": heavy, "hits": [[h.uri, h.score] for h in hits]}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=240, check=True
    )
    import json

    light = json.loads(result.stdout.strip().splitlines()[-1])
    assert light["heavy"] == []  # neither torch nor transformers was imported
    assert Path(light["hits"][0][0]).stem == "chelsea"
    with ImageIndex(default_db) as index:
        full = index.encoder.embed_texts(["a cat"])[0]  # the whole encoder, torch
        reference = index.search(vector=full, k=3)
    assert [Path(u).name for u, _ in light["hits"]] == [Path(h.uri).name for h in reference]
    for (_, score), hit in zip(light["hits"], reference, strict=True):
        assert score == pytest.approx(hit.score, abs=1e-5)


def test_the_text_query_module_knows_the_cnn_size() -> None:
    from imagevec.encoders.default.efficientnet import FEATURE_DIM
    from imagevec.encoders.default.text_query import IMAGE_FEATURES

    assert FEATURE_DIM == IMAGE_FEATURES


def test_the_lowest_constraints_are_the_declared_floors() -> None:
    import re

    import tomllib

    root = Path(__file__).resolve().parents[3]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    floors = {}
    for spec in specs:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([0-9][^,;\s]*)", spec.strip())
        if match:
            floors[match[1].lower()] = match[2]
    pins = {}
    for line in (root / "constraints-lowest.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.strip()
    assert pins, "constraints-lowest.txt pins nothing"
    from packaging.version import Version

    for name, version in pins.items():
        floor = floors.get(name)
        assert floor and Version(floor) == Version(version), f"{name}: {floor} != {version}"
