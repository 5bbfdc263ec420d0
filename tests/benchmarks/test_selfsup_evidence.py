"""The self-supervised evidence runner (examples/benchmarks/selfsup_evidence.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.support.benchmarks import load
from tests.tiny_models import tiny_model


def _row(seed: int, known: tuple[float, float], epochs: list[tuple[float, float, float]]) -> Any:
    """A run: base known recall@1 ``known[0]`` -> export ``known[1]`` (96 queries); per epoch
    (the check's mAP, known recall@1, known mAP), epoch 0 first."""
    check = [{"epoch": e, "recall@1": 0.9, "map": c, "queries": 72}
             for e, (c, _, _) in enumerate(epochs)]  # fmt: skip
    labelled = [{"epoch": e, "known": {"recall@1": r, "map": m, "queries": 96}}
                for e, (_, r, m) in enumerate(epochs)]  # fmt: skip
    base = {"known": {"recall@1": known[0], "map": 0.5, "queries": 96}}
    export = {"kept": True, "known": {"recall@1": known[1], "map": 0.5, "queries": 96}}
    return {"set": f"s{seed % 2}", "seed": seed, "base": base, "exports": {"0.5": export},
            "check": check, "labelled": labelled}  # fmt: skip


def test_summary_counts_queries_gained_and_the_checks_agreement() -> None:
    evidence = load("selfsup_evidence")
    rows = [
        # The check rises by more than a query's worth, and so does labelled recall.
        _row(0, (0.5, 0.5 + 2 / 96), [(0.8, 0.5, 0.5), (0.9, 0.53, 0.55)]),
        # The check falls; labelled recall falls too (the export kept the base: the same).
        _row(1, (0.5, 0.5), [(0.8, 0.5, 0.5), (0.7, 0.48, 0.45)]),
        # The check rises, labelled recall does not: a false "better".
        _row(2, (0.5, 0.5 - 1 / 96), [(0.8, 0.5, 0.5), (0.9, 0.5, 0.49)]),
    ]
    summary = evidence.summarise(rows, [0.5])
    blend = summary["blends"]["0.5"]
    assert (blend["up"], blend["same"], blend["down"], blend["worst"]) == (1, 1, 1, -1)
    assert blend["sets_with_a_gain"] == ["s0"]
    assert summary["verdicts"] == {"tp": 1, "fp": 1, "fn": 0, "tn": 1}
    assert summary["verdicts_by_map"] == {"tp": 1, "fp": 1, "fn": 0, "tn": 1}
    assert summary["pearson_check_map_vs_known_map"] > 0.5


@pytest.mark.slow  # builds one labelled set, one short training of a tiny model per method
@pytest.mark.timeout(900)
def test_the_runner_scores_every_method_with_the_hidden_labels(tmp_path: Path) -> None:
    evidence = load("selfsup_evidence")
    args = ["--out", str(tmp_path), "-m", tiny_model("resnet"), "--sets", "colour-5",
            "--seeds", "0", "--epochs", "1"]  # fmt: skip
    result = CliRunner().invoke(evidence.main, args)
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "selfsup.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["simclr", "moco", "byol"]
    for row in rows:
        assert row["base"]["known"]["queries"] == 96  # 24 labels x 4 new photos
        assert set(row["exports"]) == {"1.0", "0.5", "0.25"}
        assert row["check"][0]["queries"] == 72  # 24 held-out photos + 2 copies each
        assert [r["epoch"] for r in row["labelled"]] == [0, 1]
    assert "| colour-5 | byol | 0 |" in result.output
    assert json.loads((tmp_path / "summary.json").read_text())["verdicts"]
