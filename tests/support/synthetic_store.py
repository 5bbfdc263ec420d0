"""Stores of synthetic vectors (no model): build one, search it, damage it, in any process.

Run as a script to build a store or search one (the kill -9 harness):
``python -m tests.support.synthetic_store build DB N [DIM]`` and ``... search DB``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from imagevec.store.locking import open_store
from imagevec.store.stamp import make_stamp

DIM = 32
IDENTITY = {
    "name": "synthetic",
    "fingerprint": "synthetic-1",
    "dim": DIM,
    "pooling": "none",
    "space": "cosine",
    "modalities": "image",
}


def vectors(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors, the same for the same arguments."""
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def ids(n: int, start: int = 0) -> list[str]:
    return [f"r{i:07d}" for i in range(start, start + n)]


def build(db: Path, n: int, dim: int = DIM, *, start: int = 0, batch: int = 500) -> None:
    """Write records ``start .. start+n`` (vector ``i`` of :func:`vectors`) to ``db``."""
    store, lock = open_store(db, url=None, collection="images", location=str(db), write=True)
    try:
        if not store.exists:
            store.create(make_stamp({**IDENTITY, "dim": dim}, {"model": "synthetic"}))
        rows = vectors(start + n, dim)[start:]
        names = ids(n, start)
        for first in range(0, n, batch):
            metas = [
                {"uri": f"/photos/{name}.jpg", "sha256": name}
                for name in names[first : first + batch]
            ]
            store.upsert(names[first : first + batch], rows[first : first + batch], metas)
    finally:
        store.client.close()
        if lock is not None:
            lock.release()


def search(db: Path, probes: int = 20, dim: int = DIM) -> int:
    """Query with the vectors of ``probes`` stored records (spread over the store); returns
    how many found their own record first."""
    store, lock = open_store(db, url=None, collection="images", location=str(db), write=False)
    try:
        total = store.count()
        found = 0
        for offset in np.linspace(0, total - 1, min(probes, total)).astype(int):
            (id_,) = store.collection.get(limit=1, offset=int(offset))["ids"]
            number = int(id_[1:])
            found += store.query(vectors(number + 1, dim)[number], k=1)[0].id == id_
        return found
    finally:
        store.client.close()
        if lock is not None:
            lock.release()


def write_forever(db: Path, start: int, dim: int = DIM, batch: int = 50) -> None:
    """Add batches of records from ``start`` on, printing ``ok N`` once records < N are
    written (the kill -9 harness kills this mid-write)."""
    store, _lock = open_store(db, url=None, collection="images", location=str(db), write=True)
    rows = vectors(start + 100_000, dim)
    while True:
        names = ids(batch, start)
        metas = [{"uri": f"/photos/{name}.jpg", "sha256": name} for name in names]
        store.upsert(names, rows[start : start + batch], metas)
        start += batch
        print(f"ok {start}", flush=True)


if __name__ == "__main__":
    command, folder = sys.argv[1], Path(sys.argv[2])
    if command == "build":
        build(folder, int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else DIM)
    elif command == "search-loop":  # the kill -9 harness kills this mid-open or mid-query
        while True:
            print(f"ok {search(folder, 5)}", flush=True)
    elif command == "write":
        write_forever(folder, int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else DIM)
    else:
        print(search(folder, dim=int(sys.argv[3]) if len(sys.argv) > 3 else DIM), flush=True)
    os._exit(0)
