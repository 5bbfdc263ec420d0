"""``imagevec bench engine`` on a tiny CLIP and two photos: every path runs, fields print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagevec.bench.engine import format_engine
from imagevec.cli import EXIT_OK, main
from tests.tiny_models import tiny_model

LABELS = (
    "stock processor + torch, one by one",
    "stock processor + ONNX Runtime fp32, one by one",
    "ONNX Runtime forward alone, fp32, batch 32",
    "ONNX Runtime forward alone, int8, batch 32",
    "imagevec end to end, torch fp32 (before the engine)",
    "imagevec end to end, fp32",
    "imagevec end to end, bf16",
    "imagevec end to end, int8",
    "ratio imagevec int8 / ORT one-by-one peer:",
    "ratio imagevec fp32 / ORT forward alone fp32:",
    "decode, resize and crop alone, one thread",
    "CPU bound of fp32 end to end: preparing a photo",
)


def test_bench_engine_runs_every_path_and_prints_rates_cosines_and_ratios(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clip = tiny_model("clip")
    args = ["bench", "engine", "--models", clip, "--images", "2", "--rounds", "1", "--json"]
    assert main([str(a) for a in [*args, "--workdir", tmp_path]]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    entry = result["models"][str(clip)]
    assert result["images"] == 2 and 1.0 <= result["megapixels"][0] <= result["megapixels"][1]
    assert len(list((tmp_path / "photos").glob("*.jpg"))) == 2
    assert len(list(tmp_path.glob("peer-*.onnx"))) == 1  # the peer's own export, kept
    assert all(rate > 0 for rate in entry["img_s"].values() if isinstance(rate, float))
    assert entry["cosine_to_fp32"]["imagevec fp32"] == 1.0
    assert entry["cosine_to_fp32"]["ort forward fp32"] > 0.999  # the same graph, fp32
    assert set(entry["ratios"]) >= {
        "imagevec int8 / ORT one-by-one peer",
        "imagevec fp32 / ORT forward alone fp32",
    }

    # What bounds any pipeline here: a photo's preparation plus its forward, in CPU time.
    bound = entry["cpu_bound"]
    assert bound["prepare_ms"] == entry["cpu_ms_per_image"]["prepare"] > 0
    assert bound["forward_ms"] == entry["cpu_ms_per_image"]["ort forward fp32"] > 0
    expected = bound["cpus"] * 1000 / (bound["prepare_ms"] + bound["forward_ms"])
    assert bound["img_s"] == pytest.approx(expected, rel=0.01)
    reached = entry["img_s"]["imagevec fp32"] / bound["img_s"]
    assert bound["reached"] == pytest.approx(reached, abs=0.02)

    table = format_engine(result)
    assert table.startswith("imagevec bench engine: 2 JPEGs of ") and "load average" in table
    for label in LABELS:
        assert label in table, label
    fp32_row = next(line for line in table.splitlines() if "imagevec end to end, fp32" in line)
    assert fp32_row.rstrip().endswith("1.0000")  # its own cosine to fp32
