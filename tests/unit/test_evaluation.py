"""Retrieval metrics against hand-computed values, and folder evaluation end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagevec.errors import ConfigError
from imagevec.evaluation import evaluate_folder, format_metrics, retrieval_metrics


def _angles(degrees: list[float]) -> np.ndarray:
    rad = np.radians(degrees)
    return np.stack([np.cos(rad), np.sin(rad)], axis=1)


def test_single_relevant_item_per_query() -> None:
    # cos: v0v1 .8, v0v2 .6, v0v3 0, v1v2 .96, v1v3 .6, v2v3 .8 -> first hits at ranks 2, 3, 3, 2
    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0]])
    m = retrieval_metrics(vectors, ["a", "b", "a", "b"], ks=(1, 2, 3))
    assert m["recall@1"] == 0.0
    assert m["recall@2"] == pytest.approx(0.5)
    assert m["recall@3"] == pytest.approx(1.0)
    assert m["map"] == pytest.approx(5 / 12)
    assert m["mrr"] == pytest.approx(5 / 12)
    assert (m["queries"], m["skipped"]) == (4, 0)


def test_average_precision_over_several_relevant_items() -> None:
    # angles 0(a) 8(b) 20(a) 100(a) 45(b); per query AP = .5, 1/3, .5, .5, .5
    vectors = _angles([0, 8, 20, 100, 45])
    m = retrieval_metrics(vectors, ["a", "b", "a", "a", "b"], ks=(1, 2, 3))
    assert m["recall@1"] == 0.0
    assert m["recall@2"] == pytest.approx(0.8)
    assert m["recall@3"] == pytest.approx(1.0)
    assert m["map"] == pytest.approx(7 / 15)
    assert m["mrr"] == pytest.approx(7 / 15)


def test_perfect_clusters_scale_invariant_and_singletons_skipped() -> None:
    vectors = np.array([[1, 0, 0], [2, 0.1, 0], [0, 5, 0], [0, 3, 0.2], [0, 0, 7.0]])
    m = retrieval_metrics(vectors, [1, 1, 2, 2, 3])
    assert m["recall@1"] == m["recall@5"] == m["map"] == m["mrr"] == 1.0
    assert (m["queries"], m["skipped"]) == (4, 1)


def test_chunking_gives_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8))
    labels = rng.integers(0, 7, 50).tolist()
    whole = retrieval_metrics(vectors, labels)
    monkeypatch.setattr("imagevec.evaluation._CHUNK", 7)
    assert retrieval_metrics(vectors, labels) == pytest.approx(whole)


def test_bad_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        retrieval_metrics(np.zeros((3, 2)), ["a", "b"])
    with pytest.raises(ConfigError):
        retrieval_metrics(np.zeros((2, 2)), ["a", "a"], ks=(0,))


def test_no_query_has_a_match() -> None:
    m = retrieval_metrics(np.eye(3), ["a", "b", "c"])
    assert m["queries"] == 0 and m["map"] == 0.0 and not math.isnan(m["mrr"])


def test_evaluate_folder_with_the_colour_encoder(tmp_path: Path) -> None:
    for label, shades in {
        "red": [(250, 0, 0), (200, 20, 10)],
        "blue": [(0, 0, 250), (20, 10, 190)],
    }.items():
        (tmp_path / label).mkdir()
        for n, rgb in enumerate(shades):
            Image.new("RGB", (20, 20), rgb).save(tmp_path / label / f"{n}.png")
    Image.new("RGB", (20, 20), "green").save(tmp_path / "loose.png")  # not in a label folder
    m = evaluate_folder(tmp_path, "test-color")
    assert (m["images"], m["labels"]) == (4, 2)
    assert m["recall@1"] == 1.0 and m["map"] == 1.0
    assert format_metrics(m).startswith("recall@1 1.000")


def test_evaluate_folder_needs_label_folders(tmp_path: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    with pytest.raises(ConfigError):
        evaluate_folder(tmp_path, "test-color")
