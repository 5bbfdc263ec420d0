"""The fine-tuning evidence runner (examples/benchmarks/run.py finetune), tiny settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.benchmarks import load
from tests.tiny_models import tiny_model


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    code = load("run").main([str(a) for a in args])
    return code, capsys.readouterr().out


@pytest.mark.slow  # builds one labelled set, one short training of a tiny model
def test_finetune_evidence_reports_base_and_tuned_per_set_and_seed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["finetune", "--out", tmp_path, "-m", tiny_model("resnet")]
    code, out = run(capsys, *args, "--sets", "colour-5", "--seeds", "0", "--epochs", "1", "--json")
    (row,) = json.loads(out)
    assert code == 0 and (row["set"], row["seed"]) == ("colour-5", 0)
    for split in ("known", "unseen"):
        for model in ("base", "tuned"):
            assert 0 <= row[model][split]["recall@1"] <= 1
    assert row["base"]["known"]["queries"] == 96  # 24 labels x 4 new photos
    assert (tmp_path / "evidence.json").is_file()


@pytest.mark.slow  # builds one labelled set, two short self-supervised trainings
@pytest.mark.timeout(900)  # minutes on a loaded 2-core machine
def test_finetune_evidence_selfsup_compares_simclr_and_moco_with_the_base(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["finetune", "--out", tmp_path, "-m", tiny_model("resnet"), "--selfsup"]
    code, out = run(capsys, *args, "--sets", "colour-5", "--seeds", "0", "--epochs", "1", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["method"] for r in rows] == ["base", "simclr", "moco"]
    for row in rows:
        assert row["known"]["queries"] == 96 and 0 <= row["unseen"]["map"] <= 1


@pytest.mark.slow  # builds one labelled set, a SimCLR run and two short triplet trainings
@pytest.mark.timeout(900)
def test_simclr_first_runs_triplet_from_the_simclr_export_beside_the_base(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["finetune", "--out", tmp_path, "-m", tiny_model("resnet"), "--simclr-first"]
    code, out = run(capsys, *args, "--sets", "colour-5", "--seeds", "0", "--epochs", "1", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["start"] for r in rows] == ["base", "simclr"]
    simclr = json.loads((tmp_path / "colour-5-simclr" / "training.json").read_text())
    assert simclr["objective"] == "simclr" and simclr["config"]["epochs"] == 1
    for row in rows:
        assert row["base"]["known"]["queries"] == 96 and 0 <= row["tuned"]["known"]["map"] <= 1
    # Triplet's starting point is SimCLR's export: its base scores are the export's.
    exported = rows[1]["simclr"]["best_epoch"]
    assert exported >= 0 and (rows[0]["base"] == rows[1]["base"]) == (exported == 0)
