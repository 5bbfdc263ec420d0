"""The real ``imagevec`` console script, the default encoder, the real sample photos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imagevec.cli.demo_cmd import edited_copy
from imagevec.index import ImageIndex

pytestmark = pytest.mark.slow

IMAGEVEC = Path(sys.executable).with_name("imagevec")


def imagevec(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, offline, telemetry off."""
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [str(IMAGEVEC), *map(str, args)],
        capture_output=True, text=True, timeout=240, env=env, cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def indexed(photo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Sample photos plus a messy folder, indexed once with the default encoder."""
    root = tmp_path_factory.mktemp("e2e")
    messy = root / "messy"
    messy.mkdir()
    (messy / "broken.jpg").write_bytes((photo_dir / "coffee.jpg").read_bytes()[:500])
    (messy / "notes.png").write_text("not a picture")
    db = root / "db"
    done = imagevec("index", photo_dir, messy, "--db", db, "--json")
    assert done.returncode == 1, done.stderr  # partial: two bad files
    report = json.loads(done.stdout)
    return {"db": db, "photos": photo_dir, "root": root, "report": report}  # type: ignore[dict-item]


def test_index_reports_good_and_bad_files(indexed: dict) -> None:
    report = indexed["report"]
    photos = len(list(indexed["photos"].glob("*.jpg")))
    assert report["indexed"] == report["embedded"] == photos >= 18
    assert {Path(f["file"]).name for f in report["failed"]} == {"broken.jpg", "notes.png"}
    assert all(f["reason"] for f in report["failed"])


def test_text_search_from_the_command_line(indexed: dict) -> None:
    done = imagevec("search", "a cat", "--db", indexed["db"], "--json", "-k", "3")
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)
    assert Path(hits[0]["uri"]).stem == "chelsea"
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["score"] > hits[1]["score"]


def test_library_queries_on_the_same_store(indexed: dict) -> None:
    query = edited_copy(indexed["photos"] / "coffee.jpg", indexed["root"] / "q" / "coffee.jpg")
    with ImageIndex(indexed["db"]) as index:  # the stamp picks the default encoder
        assert Path(index.search(image=query, k=1)[0].uri).stem == "coffee"
        for text, stem in (("a rocket", "rocket"), ("a motorcycle", "motorcycle")):
            assert Path(index.search(text, k=1)[0].uri).stem == stem


def test_reindex_is_unchanged_and_loads_no_model(indexed: dict) -> None:
    done = imagevec("index", indexed["photos"], "--db", indexed["db"], "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["unchanged"] == indexed["report"]["indexed"]
    assert report["embedded"] == 0 and report["seconds"] < 2
    info = json.loads(imagevec("info", "--db", indexed["db"], "--json").stdout)
    (collection,) = info["collections"]
    assert collection["count"] == report["unchanged"]
    assert collection["stamp"]["model"] == "default" and collection["stamp"]["dim"] == 1664


def test_demo_runs_offline_from_scratch(tmp_path: Path) -> None:
    done = imagevec("demo", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "text: 'a cat'   [ok]" in done.stdout
    assert "image: chelsea-edited.jpg (edited copy of chelsea.jpg)   [ok]" in done.stdout
    assert list(tmp_path.iterdir()) == []  # temporary index, nothing left behind


def test_demo_db_is_a_store_folder_like_every_other_db(tmp_path: Path) -> None:
    db = tmp_path / "my-index"
    done = imagevec("demo", "--no-progress", "--db", db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (db / "chroma.sqlite3").is_file() and (tmp_path / "sample-photos").is_dir()
    assert f"imagevec search --db {db} -c demo" in done.stdout
    found = imagevec("search", "--db", db, "-c", "demo", "a cat", "--json", "-k", "1")
    assert Path(json.loads(found.stdout)[0]["uri"]).stem == "chelsea"
