"""The evidence sets: training and new photos never share pixels; a changed spec rebuilds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.benchmarks import load

labelled_sets = load("labelled_sets")
SETS, SetSpec, build_set = labelled_sets.SETS, labelled_sets.SetSpec, labelled_sets.build_set
_zones = labelled_sets._zones

TINY = SetSpec("tiny", ("coffee",), ("rocket",), grid=(1, 2), train=2, test=2, size=48, views=0)


def test_training_and_new_photo_zones_share_no_column() -> None:
    # Each column of the cell has its own value: a zone's values say which columns it holds.
    cell = Image.fromarray(np.tile(np.arange(200, dtype=np.uint8), (50, 1)))
    train, new = _zones(cell)
    train_cols, new_cols = set(np.asarray(train)[0]), set(np.asarray(new)[0])
    assert train_cols and new_cols and not train_cols & new_cols
    assert max(train_cols) < min(new_cols)  # a gap between them


@pytest.mark.slow  # decodes every sample photo twice
def test_a_changed_spec_rebuilds_the_set(tmp_path: Path) -> None:
    folders = build_set(tmp_path, TINY)
    assert sorted(p.name for p in folders.train.iterdir()) == ["coffee-0", "coffee-1"]
    assert len(list((folders.known / "coffee-0").iterdir())) == 2
    bigger = dataclasses.replace(TINY, train=3)
    build_set(tmp_path, bigger)
    assert len(list((folders.train / "coffee-0").iterdir())) == 3


def test_shipped_sets_have_the_promised_sizes_and_keep_unseen_photos_apart() -> None:
    assert [SETS[name].train for name in ("colour-5", "grey-30", "colour-100")] == [5, 30, 100]
    for spec in SETS.values():
        assert not set(spec.photos) & set(spec.unseen_photos)
        rows, cols = spec.grid
        assert len(spec.photos) * rows * cols >= 8  # enough labels to be informative
