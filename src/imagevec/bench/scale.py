"""Benchmark of scale-out: the local path vs the Ray engine, and a Chroma server's ingest.

* ``engines``: images/s of ``ImageIndex.add`` (one process) and of
  :func:`imagevec.scale.index_with_ray` with 1, 2... model actors on the same files, each
  into a fresh collection of a Chroma server; wall time includes loading the model (and, for
  Ray, starting the actors), as a user sees it.
* ``chroma``: upsert rate (vectors/s, batches of the server's max size) and query latency
  (k=10, median and p95) of a Chroma server at 10k, 100k... random unit vectors.

Example:
    >>> bench_chroma("http://127.0.0.1:8000", sizes=[10_000])          # doctest: +SKIP
    [{'vectors': 10000, 'dim': 1664, 'upsert_vectors_per_s': 2100.0, ...}]

From a shell: ``imagevec bench scale --chroma-url URL [PATHS...]``.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.index import ImageIndex
from imagevec.scale import index_with_ray
from imagevec.store.chroma import Store, connect
from imagevec.store.record import URI


def bench_engines(
    files: Sequence[Path],
    url: str,
    *,
    model: str = "default",
    actors: Sequence[int] = (1, 2),
    batch_size: int = 32,
) -> list[dict[str, Any]]:
    """Images/s of the local path and of Ray with each number of ``actors`` (fresh collections)."""
    rows = []
    started = time.perf_counter()
    with ImageIndex(url=url, collection=f"bench-local-{uuid.uuid4().hex[:8]}", encoder=model) as ix:
        report = ix.add(list(files), batch_size=batch_size)
    rows.append(_row("local (1 process)", report, time.perf_counter() - started))
    for count in actors:
        started = time.perf_counter()
        report = index_with_ray(
            list(files), chroma_url=url, collection=f"bench-ray{count}-{uuid.uuid4().hex[:8]}",
            model=model, concurrency=count, batch_size=batch_size,
        )  # fmt: skip
        rows.append(_row(f"ray, {count} actor(s)", report, time.perf_counter() - started))
    return rows


def _row(engine: str, report: Any, seconds: float) -> dict[str, Any]:
    return {
        "engine": engine,
        "images": report.indexed,
        "failed": len(report.failed),
        "seconds": round(seconds, 1),
        "images_per_s": round(report.indexed / seconds, 1),
    }


def bench_chroma(
    url: str,
    *,
    sizes: Sequence[int] = (10_000,),
    dim: int = 1664,
    queries: int = 50,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Upsert rate and query latency of a Chroma server as a collection grows to ``sizes``.

    ``on_row`` gets each size's row as soon as it is measured (a long run that is stopped
    still leaves its smaller sizes). The collection is deleted at the end, or on error.
    """
    store = Store(connect(url=url), f"bench-chroma-{uuid.uuid4().hex[:8]}", location=url)
    store.create({"imagevec:bench": 1})
    try:
        return _grow(store, sorted(sizes), dim, queries, on_row or (lambda row: None))
    finally:
        store.client.delete_collection(store.name)


def _grow(
    store: Any, sizes: list[int], dim: int, queries: int, on_row: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    count, upsert_seconds = 0, 0.0
    for size in sizes:
        while count < size:
            n = min(store.max_batch, 5000, size - count)
            vectors = rng.standard_normal((n, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            ids = [f"v{count + i}" for i in range(n)]
            metas = [{URI: f"/bench/{count + i}.jpg", "n": count + i} for i in range(n)]
            began = time.perf_counter()
            store.upsert(ids, vectors, metas)
            upsert_seconds += time.perf_counter() - began
            count += n
        times = []
        for _ in range(queries):
            query = rng.standard_normal(dim).astype(np.float32)
            began = time.perf_counter()
            store.query(query / np.linalg.norm(query), k=10)
            times.append((time.perf_counter() - began) * 1000)
        rows.append(
            {
                "vectors": count,
                "dim": dim,
                "upsert_vectors_per_s": round(count / upsert_seconds, 1),
                "query_ms_median": round(statistics.median(times), 1),
                "query_ms_p95": round(sorted(times)[int(0.95 * (len(times) - 1))], 1),
            }
        )
        on_row(rows[-1])
    return rows
