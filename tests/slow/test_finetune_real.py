"""Fine-tuning the real default encoder on labelled sets built from the real sample photos.

Each label is one region of one photo; its images are hard edits of it (crops of 30-70%,
rotation, perspective, colour shifts, blur, occlusion). Whole photos are held out, so the
held-out labels are unseen content. A short CPU run (30-90 s on 2 shared cores)
must raise held-out mAP and recall@1 over the base model and export a model that loads;
SimCLR on the same images (labels ignored) must not break the model. The full-size numbers
come from ``imagevec bench finetune``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import imagevec
from imagevec.bench.finetune_evidence import build_labelled_sets
from imagevec.evaluation import evaluate_folder
from imagevec.training import finetune_simclr, finetune_triplet

pytestmark = pytest.mark.slow

COMMON = {"model": "default", "device": "cpu", "progress": False, "batch_size": 30}


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_labelled_sets(tmp_path_factory.mktemp("evidence"), per_label=3, seed=1)


def test_triplet_raises_held_out_quality_and_exports(
    sets: tuple[Path, Path], tmp_path: Path
) -> None:
    train_dir, held_dir = sets
    result = finetune_triplet(
        train_dir, eval_dir=held_dir, out=tmp_path, epochs=3, k=3, lr=2e-4, **COMMON
    )
    # The last epoch, not the best one: no selection on the held-out labels.
    before, last = result.before, result.history[-1]["metrics"]
    assert last["map"] > before["map"] + 0.02
    assert last["recall@1"] >= before["recall@1"]
    best = result.best
    # The exported folder is the best epoch and loads like any model name.
    reloaded = evaluate_folder(held_dir, imagevec.create_encoder(str(tmp_path), device="cpu"))
    assert reloaded["map"] == pytest.approx(best["map"], abs=0.03)


def test_simclr_does_not_break_the_model(sets: tuple[Path, Path], tmp_path: Path) -> None:
    train_dir, held_dir = sets
    result = finetune_simclr(
        train_dir, eval_dir=held_dir, out=tmp_path, epochs=1, freeze=-3, **COMMON
    )
    assert result.history[1]["metrics"]["map"] >= result.before["map"] - 0.05
    enc = imagevec.create_encoder(str(tmp_path), device="cpu")
    assert enc.dim == 1664  # the SimCLR projection head is not exported
