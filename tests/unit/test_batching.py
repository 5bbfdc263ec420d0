"""The batching loop on its own: numpy in, numpy out, order kept, the engine kept busy."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagevec.batching import collect, encode_texts, iter_encoded_batches
from imagevec.encoders.embedding import unit_rows
from imagevec.preprocess import Preprocess


class MeanColour:
    """A numpy 'model': the mean of each channel (plus a constant), recorded per call."""

    name = "mean-colour"
    dim = 4
    preprocess = Preprocess(resize=("exact", 8, 8), crop=None, mean=(0, 0, 0), std=(1, 1, 1))

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[tuple[int, str, float, float]] = []

    def run_images(self, pixels: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        time.sleep(self.delay)
        means = self.preprocess.normalize_array(pixels).mean(axis=(2, 3))
        out = np.concatenate([means, np.ones((len(pixels), 1), np.float32)], axis=1)
        name = threading.current_thread().name
        self.calls.append((len(pixels), name, started, time.perf_counter()))
        return unit_rows(out)

    def run_texts(self, texts: list[str]) -> np.ndarray:
        return unit_rows(np.array([[len(t), 1.0, 0.0, 0.0] for t in texts], np.float32))


def _grey(level: int) -> Image.Image:
    return Image.new("RGB", (20, 10), (level, level, level))


def test_rows_come_back_in_input_order_normalised() -> None:
    model = MeanColour()
    levels = list(range(0, 250, 10))
    report = collect(
        iter_encoded_batches(model, [_grey(v) for v in levels], batch_size=4), model.dim
    )
    assert report.indices == list(range(len(levels)))
    expected = unit_rows(np.array([[v / 255] * 3 + [1.0] for v in levels], np.float32))
    np.testing.assert_allclose(report.vectors, expected, atol=1e-6)
    assert [size for size, *_ in model.calls] == [4] * 6 + [1]
    assert {name for _, name, *_ in model.calls} == {"imagevec-forward_0"}


def test_the_forward_of_one_batch_overlaps_the_callers_work_on_the_last() -> None:
    model = MeanColour(delay=0.2)
    sources = [_grey(v) for v in range(8)]
    started = time.perf_counter()
    for _ in iter_encoded_batches(model, sources, batch_size=2):
        time.sleep(0.2)  # the caller's work (hashing, store writes) on each batch
    elapsed = time.perf_counter() - started
    # 4 forwards and 4 caller steps of 0.2 s each: 1.6 s in series, ~1.0 s overlapped.
    assert elapsed < 1.4, elapsed


def test_failures_ride_with_their_batch(tmp_path: Path) -> None:
    model = MeanColour()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a picture")
    sources = [_grey(1), bad, _grey(2), bad]
    batches = list(iter_encoded_batches(model, sources, batch_size=2, on_error="skip"))
    assert [b.indices for b in batches] == [[0, 2], []]
    assert [[f.index for f in b.failures] for b in batches] == [[1], [3]]


def test_only_failures_still_make_a_batch(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    model = MeanColour()
    batches = list(iter_encoded_batches(model, [bad], on_error="skip"))
    assert len(batches) == 1 and batches[0].vectors.shape == (0, 4)
    assert model.calls == []


def test_a_forward_error_reaches_the_caller() -> None:
    class Broken(MeanColour):
        def run_images(self, pixels: np.ndarray) -> np.ndarray:
            raise RuntimeError("engine fell over")

    with pytest.raises(RuntimeError, match="engine fell over"):
        list(iter_encoded_batches(Broken(), [_grey(1)] * 3, batch_size=2))


def test_texts_keep_their_order() -> None:
    out = encode_texts(MeanColour(), ["a", "ccc", "bb"], batch_size=2)
    assert np.argmax(out @ np.array([1, 0, 0, 0], np.float32)) == 1
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    assert encode_texts(MeanColour(), []).shape == (0, 4)


def test_the_loop_never_imports_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        from PIL import Image
        from imagevec.batching import collect, iter_encoded_batches
        from imagevec.preprocess import Preprocess

        class Model:
            name, dim = "m", 3
            preprocess = Preprocess(resize=("exact", 8, 8), crop=None)
            def run_images(self, pixels):
                return pixels.mean(axis=(1, 2)).astype("float32")

        images = [Image.new("RGB", (30, 20), (9, 99, 199))] * 5
        report = collect(iter_encoded_batches(Model(), images, batch_size=2), 3)
        assert report.vectors.shape == (5, 3)
        print("torch" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
