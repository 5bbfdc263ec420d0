"""Near-duplicates: blockwise search equals brute force; real photos and their edited copies
are grouped (keeper first) and distinct photos are not; CLI text, JSON and HTML."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.support.edits import write_edited_copies

from imagevec.cli import EXIT_OK, EXIT_USAGE, main
from imagevec.errors import ConfigError
from imagevec.index import ImageIndex
from imagevec.search.dupes import duplicate_pairs, group_pairs


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
