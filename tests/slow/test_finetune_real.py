"""Fine-tuning the real default encoder on a small labelled set cut from the sample photos.

A label is one cell of a photo; training images are crops of one zone of the cell, the new
photos of the label crops of another zone (no shared pixels); a third photo gives unseen
labels. One short run with the default recipe (the frozen layers' activations cached) must:
export a folder that loads and scores as the trainer said, never score below the base model
on the validation photos it selected with, and keep the unseen labels about where they were.
The full evidence (three sets, three seeds) is ``examples/benchmarks/run.py finetune``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.benchmarks import load

import imagevec
from imagevec.evaluation import evaluate_folder
from imagevec.training import finetune_triplet

labelled_sets = load("labelled_sets")  # examples/benchmarks/labelled_sets.py
SetFolders, SetSpec, build_set = (
    labelled_sets.SetFolders,
    labelled_sets.SetSpec,
    labelled_sets.build_set,
)

# Two real trainings of the default encoder: minutes on a loaded 2-core machine, so each test
# gets three times the suite's 300 s timeout (one took 274 s of 300 s).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MINI = SetSpec(
    "mini", ("coffee", "chelsea"), ("rocket",), grid=(2, 2), train=4, test=3, size=96, views=0
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> SetFolders:
    return build_set(tmp_path_factory.mktemp("sets"), MINI)


def test_sets_keep_training_and_new_photos_apart(folders: SetFolders) -> None:
    labels = sorted(p.name for p in folders.train.iterdir())
    assert labels == sorted(p.name for p in folders.known.iterdir())
    assert len(labels) == 8 and len(list(folders.unseen.iterdir())) == 4
    assert not {p.name.split("-")[0] for p in folders.unseen.iterdir()} & {"coffee", "chelsea"}


def test_default_recipe_exports_the_validated_model(folders: SetFolders, tmp_path: Path) -> None:
    lines: list[str] = []
    result = finetune_triplet(
        folders.train, model="default", out=tmp_path, device="cpu", progress=False,
        views=0, epochs=3, log=lines.append,
    )  # fmt: skip
    assert any("frozen layers cached" in line for line in lines)
    # 8 labels of 4: 2 new photos held out per label (2 stay to train); 8 labels: 2 unseen.
    assert result.before["queries"] == 12 and "unseen map" in result.before
    assert result.best["recall@1"] >= result.before["recall@1"]
    assert result.best["map"] >= result.before["map"]
    assert any("NO IMPROVEMENT" in line for line in lines) == (not result.improved)
    # The exported folder is the selected epoch: it loads and scores like any model.
    tuned = imagevec.create_encoder(str(tmp_path), device="cpu")
    base = evaluate_folder(folders.unseen, imagevec.create_encoder("default", device="cpu"))
    after = evaluate_folder(folders.unseen, tuned)
    assert after["map"] >= base["map"] - 0.05  # unseen labels: no collapse
