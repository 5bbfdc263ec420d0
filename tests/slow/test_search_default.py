"""Combined queries with the real default encoder on real photos: adding a text to a picture
moves the photos showing that text up, subtracting it moves them down."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from imagevec.index import ImageIndex
from imagevec.search import Query

pytestmark = pytest.mark.slow

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "horse", "china", "brick", "moon")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> ImageIndex:
    folder = tmp_path_factory.mktemp("combined")
    for name in PHOTOS:
        shutil.copy(photo_dir / f"{name}.jpg", folder)
    with ImageIndex(folder / "db", encoder="default") as opened:
        assert opened.add(folder).indexed == len(PHOTOS)
        yield opened


def _ranks(index: ImageIndex, query: Query) -> list[str]:
    return [Path(h.uri).stem for h in index.search(query=query, k=len(PHOTOS))]


def test_adding_a_text_to_a_photo_moves_that_subject_up(index: ImageIndex, photo_dir: Path) -> None:
    cat = Query.like(next(p for p in _paths(index) if p.endswith("chelsea.jpg")))
    alone = _ranks(index, cat)
    for text, subject in (("a cup of coffee", "coffee"), ("a rocket", "rocket")):
        mixed = _ranks(index, cat + Query.text(text))
        assert mixed[0] == subject, (text, mixed)
        assert mixed.index(subject) < alone.index(subject)
        minus = _ranks(index, cat - Query.text(text))
        assert minus.index(subject) >= alone.index(subject), (text, alone, minus)


def _paths(index: ImageIndex) -> list[str]:
    return [meta["uri"] for _, meta in index.iter_metadata()]
