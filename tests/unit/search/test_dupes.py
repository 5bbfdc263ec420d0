"""Near-duplicates: blockwise search equals brute force; real photos and their edited copies
are grouped (keeper first) and distinct photos are not; CLI text, JSON and HTML."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from imagevec.cli import EXIT_OK, EXIT_USAGE, main
from imagevec.errors import ConfigError
from imagevec.index import ImageIndex
from imagevec.search.dupes import duplicate_pairs, group_pairs
from tests.support.edits import write_edited_copies


@pytest.mark.parametrize("block", [1, 7, 64, 1000])
def test_blockwise_pairs_equal_brute_force(block: int) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((60, 16)).astype(np.float32)
    vectors[40:50] = vectors[:10] + 0.05 * rng.standard_normal((10, 16))
    vectors[50] = vectors[0] + 0.05 * rng.standard_normal(16)  # a group of three
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = vectors @ vectors.T
    expected = {(i, j) for i in range(60) for j in range(i + 1, 60) if sims[i, j] >= 0.9}
    found = set()
    for rows, cols, scores in duplicate_pairs(vectors, 0.9, block):
        assert np.all(rows < cols) and np.all(scores >= 0.9)
        found |= set(zip(rows.tolist(), cols.tolist(), strict=True))
    assert found == expected and len(expected) >= 11
    groups = group_pairs(60, duplicate_pairs(vectors, 0.9, block))
    assert groups[0] == [0, 40, 50] and len(groups) == 10


@pytest.fixture
def library(tmp_path: Path, photo_dir: Path) -> Path:
    folder = tmp_path / "library"
    folder.mkdir()
    for name in ("chelsea", "coffee", "astronaut", "rocket", "china", "flower"):
        shutil.copy(photo_dir / f"{name}.jpg", folder)
    write_edited_copies(folder / "chelsea.jpg", folder / "edits", ("resized", "blurred"))
    write_edited_copies(folder / "china.jpg", folder / "edits", ("resized",))
    return folder


@pytest.fixture
def db(tmp_path: Path, library: Path) -> Path:
    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        index.add(library)
    return tmp_path / "db"


def _stems(group: object) -> list[str]:
    return [Path(hit.uri).stem for hit in group.members]  # type: ignore[attr-defined]


def test_edited_copies_are_grouped_keeper_first(db: Path) -> None:
    with ImageIndex(db) as index:
        groups = index.duplicates(threshold=0.99)
        with pytest.raises(ConfigError):
            index.duplicates(threshold=1.5)
        only_china = index.duplicates(
            threshold=0.99, where={"filename": {"$in": ["china.jpg", "china_resized.jpg"]}}
        )
    assert [sorted(_stems(g)) for g in groups] == [
        ["chelsea", "chelsea_blurred", "chelsea_resized"],
        ["china", "china_resized"],
    ]
    cat = groups[0]
    assert _stems(cat)[0] == "chelsea"  # the full-size original is the keeper
    assert cat.members[0].score == pytest.approx(1.0, abs=1e-5)
    assert all(0.99 <= hit.score <= 1.0 + 1e-5 for hit in cat.members)
    assert [sorted(_stems(g)) for g in only_china] == [["china", "china_resized"]]


def test_cli_dupes_text_json_html(
    capsys: pytest.CaptureFixture[str], db: Path, tmp_path: Path
) -> None:
    html = tmp_path / "dupes.html"
    code = main(["dupes", "--db", str(db), "-t", "0.99", "--html", str(html)])
    out, _ = capsys.readouterr()
    assert code == EXIT_OK and "2 groups, 3 photos beyond the keepers" in out
    assert "keeper" in out and "chelsea_resized.jpg" in out
    page = html.read_text()
    assert page.count("<h2>group") == 2 and page.count("data:image/jpeg;base64,") == 5
    code = main(["dupes", "--db", str(db), "-t", "0.99", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK and data["threshold"] == 0.99
    assert [g["size"] for g in data["groups"]] == [3, 2]
    assert data["groups"][0]["keeper"].endswith("chelsea.jpg")
    assert {"id", "uri", "score", "metadata"} <= set(data["groups"][0]["members"][1])
    assert main(["dupes", "--db", str(db), "-t", "0"]) == EXIT_USAGE


def test_bench_speed_finds_the_planted_copies() -> None:
    from imagevec.bench.dupes import bench_speed

    result = bench_speed(3000, dim=64)
    assert result["groups"] == result["planted"] == 30 and result["photos_per_s"] > 0


def test_the_keeper_is_the_original_not_the_bigger_edit(
    tmp_path: Path, photo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A brightened re-save at a higher quality is bigger than its original: keep the original."""
    import os

    folder = tmp_path / "lib"
    folder.mkdir()
    original = folder / "chelsea.jpg"
    shutil.copy(photo_dir / "chelsea.jpg", original)
    from PIL import Image, ImageEnhance

    bright = folder / "chelsea_brighter.jpg"
    with Image.open(original) as image:
        ImageEnhance.Brightness(image).enhance(1.05).save(bright, quality=97)
    assert bright.stat().st_size > original.stat().st_size
    os.utime(original, ns=(1_600_000_000 * 10**9,) * 2)  # taken off the camera long ago
    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as index:
        index.add(folder)
        (group,) = index.duplicates(threshold=0.9)
    assert _stems(group) == ["chelsea", "chelsea_brighter"]
    assert group.reason == "earliest file time"
    assert main(["dupes", "--db", str(db), "-t", "0.9", "--json"]) == EXIT_OK
    data = json.loads(capsys.readouterr().out)["groups"][0]
    assert data["keeper"] == str(original) and data["reason"] == "earliest file time"
    html = tmp_path / "d.html"
    assert main(["dupes", "--db", str(db), "-t", "0.9", "--html", str(html)]) == EXIT_OK
    assert "keeper: earliest file time" in html.read_text()


@pytest.mark.parametrize(
    ("metas", "reason"),
    [
        ([{"taken_ts": 200, "mtime_ns": 1}, {"taken_ts": 100, "mtime_ns": 9}],
         "earliest capture time (EXIF)"),
        ([{"taken_ts": 5, "mtime_ns": 9}, {"taken_ts": 5, "mtime_ns": 1}], "earliest file time"),
        ([{"mtime_ns": 1, "width": 9, "height": 9}, {"mtime_ns": 1, "camera_make": "Canon"}],
         "has camera EXIF"),
        ([{"width": 10, "height": 10, "bytes": 9}, {"width": 20, "height": 10, "bytes": 1}],
         "most pixels"),
        ([{"bytes": 1}, {"bytes": 2}], "most bytes"),
        ([{"bytes": 1}, {"bytes": 1}], "all rules tie: first by path"),
    ],
)  # fmt: skip
def test_keeper_rules_in_order(metas: list[dict], reason: str) -> None:
    from imagevec.search.dupes import keeper_order

    order, why = keeper_order(metas, ["/p/b.jpg", "/p/a.jpg"])
    assert why == reason
    assert order == [1, 0]  # the second one wins each case (the path tie too: a.jpg)
