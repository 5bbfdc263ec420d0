"""Benchmark of the main job: index throughput vs the encoder alone, and query latency.

Measures, on the same image files (throughputs are the best of ``rounds`` interleaved
passes: a shared machine is noisy):

* ``encoder_images_per_s``: ``encoder.embed_images(files)`` (decode + preprocess + forward);
* ``index_images_per_s``: ``ImageIndex.add(files)`` into a fresh embedded store (the above plus
  stat, sha256, header read and the batched Chroma upserts);
* ``reindex_files_per_s``: the same ``add`` again (nothing changed: nothing is decoded);
* ``text_query_ms`` / ``image_query_ms`` / ``vector_query_ms``: median and p95 of
  ``index.search`` (text: text tower + query; image: load + forward + query; vector: the
  Chroma query alone).

Example:
    >>> from imagevec.bench.index import bench_index
    >>> bench_index(model="default", copies=10)["index_images_per_s"]   # doctest: +SKIP
    41.3

From a shell: ``imagevec bench index [PATHS...] --model default --copies 10 --rounds 3``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imagevec.encoders.factory import create_encoder
from imagevec.index import ImageIndex
from imagevec.io.decode import load_image
from imagevec.io.files import iter_image_files
from imagevec.samples import write_sample_photos

TEXT_QUERIES = ("a cat", "a cup of coffee", "a rocket", "a motorcycle", "a horse", "the moon")


def sample_variants(folder: Path, copies: int) -> list[Path]:
    """``copies`` edited variants (crop, mirror, brightness) of each sample photo, as JPEGs."""
    from PIL import ImageEnhance, ImageOps

    originals = write_sample_photos(folder / "originals")
    out = []
    for path in originals:
        image = load_image(path)
        for n in range(copies):
            edit = ImageOps.mirror(image) if n % 2 else image
            w, h = edit.size
            edit = edit.crop((n * w // 50, n * h // 50, w - n * w // 60, h))
            edit = ImageEnhance.Brightness(edit).enhance(0.8 + 0.05 * n)
            target = folder / f"{path.stem}-{n:02d}.jpg"
            edit.save(target, quality=90)
            out.append(target)
    return out


def _latency(func: Any, inputs: Sequence[Any], repeats: int) -> dict[str, float]:
    times = []
    for round_ in range(repeats):
        started = time.perf_counter()
        func(inputs[round_ % len(inputs)])
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return {"median": round(statistics.median(times), 2), "p95": round(p95, 2)}


def bench_index(
    paths: Sequence[str | Path] | None = None,
    *,
    model: str = "default",
    device: str = "auto",
    batch_size: int = 32,
    copies: int = 10,
    repeats: int = 30,
    rounds: int = 3,
) -> dict[str, Any]:
    """Run the benchmark; returns a JSON-ready dict (see the module docstring).

    Args:
        paths: image files/folders; default: ``copies`` variants of each sample photo.
        model: the encoder.
        device: where it runs.
        batch_size: images per forward pass (and per write).
        copies: variants per sample photo when ``paths`` is None.
        repeats: queries timed per kind.
        rounds: timed passes of the encoder alone and of ``add`` (fresh store each), best kept.
    """
    with tempfile.TemporaryDirectory(prefix="imagevec-bench-") as scratch:
        root = Path(scratch)
        files = (
            list(iter_image_files(list(paths)))
            if paths
            else sample_variants(root / "photos", copies)
        )
        started = time.perf_counter()
        encoder = create_encoder(model, device=device)
        load_s = time.perf_counter() - started
        encoder.embed_images(files[:batch_size], batch_size=batch_size, on_error="skip")  # warm

        encoder_times, index_times = [], []
        for round_ in range(rounds):  # interleaved, best of each: robust to a busy machine
            started = time.perf_counter()
            encoder.embed_images(files, batch_size=batch_size, on_error="skip")
            encoder_times.append(time.perf_counter() - started)
            with ImageIndex(root / f"db{round_}", encoder=encoder) as index:
                started = time.perf_counter()
                report = index.add(files, batch_size=batch_size)
                index_times.append(time.perf_counter() - started)
        encoder_s, index_s = min(encoder_times), min(index_times)
        with ImageIndex(root / "db0", encoder=encoder) as index:
            started = time.perf_counter()
            index.add(files, batch_size=batch_size)
            reindex_s = time.perf_counter() - started
            vector = encoder.embed_texts(["a cat"])[0]
            query_ms = {
                "text_query_ms": _latency(lambda q: index.search(q, k=10), TEXT_QUERIES, repeats),
                "image_query_ms": _latency(
                    lambda f: index.search(image=f, k=10), files[::7], repeats
                ),
                "vector_query_ms": _latency(
                    lambda v: index.search(vector=v, k=10), [vector], repeats
                ),
            }
    n = len(files)
    return {
        "model": model,
        "device": encoder.engine,
        "images": n,
        "indexed": report.indexed,
        "batch_size": batch_size,
        "rounds": rounds,
        "load_s": round(load_s, 2),
        "encoder_images_per_s": round(n / encoder_s, 1),
        "index_images_per_s": round(n / index_s, 1),
        "index_overhead_pct": round(100 * (index_s - encoder_s) / encoder_s, 1),
        "reindex_files_per_s": round(n / reindex_s, 1),
        **query_ms,
    }
