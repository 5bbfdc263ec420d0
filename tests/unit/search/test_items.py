"""More like this: search by an indexed photo's stored vector (real photos, colour encoder)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from imagevec.cli import EXIT_ERROR, EXIT_OK, main
from imagevec.errors import ConfigError, NotFoundError, NotIndexedError
from imagevec.index import ImageIndex
from tests.support.edits import write_edited_copies

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "china", "flower")


@pytest.fixture
def library(tmp_path: Path, photo_dir: Path) -> Path:
    """Six real photos plus a resized and a blurred copy of the cat."""
    folder = tmp_path / "library"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(photo_dir / f"{name}.jpg", folder)
    write_edited_copies(folder / "chelsea.jpg", folder, ("resized", "blurred"))
    return folder


@pytest.fixture
def index(tmp_path: Path, library: Path) -> ImageIndex:
    with ImageIndex(tmp_path / "db", encoder="test-color") as opened:
        assert opened.add(library).indexed == len(PHOTOS) + 2
        yield opened


def _stems(hits: list) -> list[str]:
    return [Path(hit.uri).stem for hit in hits]


def test_like_path_finds_edited_copies_first_and_leaves_itself_out(
    index: ImageIndex, library: Path
) -> None:
    hits = index.search(like=library / "chelsea.jpg", k=3)
    assert len(hits) == 3 and "chelsea" not in _stems(hits)
    assert set(_stems(hits)[:2]) == {"chelsea_resized", "chelsea_blurred"}
    with_self = index.search(like=str(library / "chelsea.jpg"), k=3, include_self=True)
    assert _stems(with_self)[0] == "chelsea" and with_self[0].score == pytest.approx(1.0, abs=1e-4)


def test_like_uses_the_stored_vector_even_when_the_file_is_gone(
    index: ImageIndex, library: Path
) -> None:
    before = index.search(like=library / "coffee.jpg", k=4)
    (library / "coffee.jpg").unlink()
    after = index.search(like=library / "coffee.jpg", k=4)
    assert [h.id for h in after] == [h.id for h in before]
    assert [h.score for h in after] == pytest.approx([h.score for h in before])


def test_like_by_id_equals_like_by_path_and_respects_where(
    index: ImageIndex, library: Path
) -> None:
    by_path = index.search(like=library / "rocket.jpg", k=8, include_self=True)
    rocket_id = by_path[0].id
    by_id = index.search(like=rocket_id, k=8, include_self=True)
    assert [h.id for h in by_id] == [h.id for h in by_path]
    assert len(index.search(like=rocket_id, k=20)) == len(PHOTOS) + 1
    only = index.search(like=rocket_id, k=5, where={"filename": "china.jpg"})
    assert _stems(only) == ["china"]


def test_like_unknown_item_is_a_clear_error(index: ImageIndex, library: Path) -> None:
    with pytest.raises(NotIndexedError, match=r"nowhere\.jpg") as info:
        index.search(like=library / "nowhere.jpg")
    assert isinstance(info.value, NotFoundError) and info.value.collection == "images"
    with pytest.raises(ConfigError, match="exactly one"):
        index.search("red", like=library / "chelsea.jpg")


def test_cli_search_like(
    capsys: pytest.CaptureFixture[str], index: ImageIndex, library: Path, tmp_path: Path
) -> None:
    index.close()
    args = ["search", "--like", str(library / "chelsea.jpg"), "--db", str(tmp_path / "db")]
    code = main([*args, "--json", "-k", "2"])
    out, _ = capsys.readouterr()
    hits = json.loads(out)
    assert code == EXIT_OK
    assert {Path(h["uri"]).stem for h in hits} == {"chelsea_resized", "chelsea_blurred"}
    assert main(["search", "--like", "no-such-id", "--db", str(tmp_path / "db")]) == EXIT_ERROR
    assert "not indexed" in capsys.readouterr().err
