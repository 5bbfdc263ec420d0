"""Each benchmark / evidence runner, run once through the CLI with tiny settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagevec.cli import EXIT_OK, main


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().out


def test_bench_forward_times_model_and_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["bench", "forward", "--models", "test-color", "--dtypes", "float32", "--images", "4"]
    args += ["-b", "2", "--device", "cpu", "--long-side", "64", "--workdir", tmp_path, "--json"]
    code, out = run(capsys, *args)
    (row,) = json.loads(out)
    assert code == EXIT_OK and (row["model"], row["dtype"], row["device"]) == (
        "test-color",
        "float32",
        "cpu",
    )
    assert row["forward_img_s"] > 0 and row["end_to_end_img_s"] > 0
    assert len(list((tmp_path / "jpegs-64").glob("*.jpg"))) == 4


@pytest.mark.slow  # a benchmark run end to end (CI runs it)
def test_bench_index_uses_rounds_and_measures_latency(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["bench", "index", "-m", "test-color", "--device", "cpu", "--copies", "1"]
    code, out = run(capsys, *args, "--repeats", "3", "--rounds", "2")
    result = json.loads(out)
    assert code == EXIT_OK and result["rounds"] == 2
    assert result["images"] == result["indexed"] >= 18
    assert result["encoder_images_per_s"] > 0 and result["index_images_per_s"] > 0
    assert 0 < result["vector_query_ms"]["median"] <= result["vector_query_ms"]["p95"]


@pytest.mark.slow  # a benchmark run end to end (CI runs it)
def test_bench_serve_times_the_api_through_a_real_server(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["bench", "serve", "-m", "test-color", "--device", "cpu", "--copies", "1"]
    code, out = run(capsys, *args, "--repeats", "3", "-k", "5", "--browser", "none")
    result = json.loads(out)
    assert code == EXIT_OK and result["images"] >= 18 and result["k"] == 5
    for kind in ("text_ms", "image_upload_ms", "like_ms", "remote_text_ms"):
        assert 0 < result[kind]["p50"] <= result[kind]["p95"], kind
    assert "grid_ms" not in result


@pytest.mark.slow  # a benchmark run end to end (CI runs it)
def test_bench_dupes_speed_and_threshold_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "dupes", "--vectors", "1000,2000", "--dim", "32", "--evidence"]
    code, out = run(capsys, *args, "-m", "test-color")
    result = json.loads(out)
    assert code == EXIT_OK and [r["vectors"] for r in result["speed"]] == [1000, 2000]
    assert all(r["groups"] == r["planted"] for r in result["speed"])
    for row in result["speed"]:
        assert row["gflop_per_s"] > 0 and row["peak_rss_mb"] > row["vector_mb"]
        assert 0 < row["search_peak_mb"] < 1.5 * row["tile_mb"]  # one tile, not n x n
    evidence = result["evidence"]
    assert evidence["images"] == 8 * evidence["photos"] >= 8 * 18
    for row in evidence["rows"]:
        assert 0 <= row["precision_all"] <= 1 and 0 <= row["recall_all"] <= 1
    recalls = [row["recall_all"] for row in evidence["rows"]]
    assert recalls == sorted(recalls, reverse=True)  # a higher threshold finds fewer pairs
