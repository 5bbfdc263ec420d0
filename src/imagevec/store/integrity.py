"""Trust a store only after checking it: files before Chroma reads them, vectors after.

Two steps guard every embedded store when it is opened (:func:`imagevec.store.chroma.connect`):

1. **files**, before Chroma touches them (a damaged vector index crashes the process, it does
   not raise): ``chroma.sqlite3`` is a non-empty SQLite database that passes
   ``PRAGMA quick_check``, and every HNSW folder passes
   :func:`~imagevec.store.hnsw_files.check_hnsw_folder`;
2. **vectors**, a cheap self-query (:func:`probe_collection`): a few records spread over each
   collection must have a vector and be found by it. A deleted vector-index folder, or a
   backup of ``chroma.sqlite3`` alone, passes step 1 but fails here instead of answering
   with wrong hits.

Both run only when the files changed since the last successful check: the sizes and
modification times of what was verified are kept in ``imagevec.verified.json`` next to the
store. Failures raise :class:`~imagevec.errors.StoreDamagedError`.

Example:
    >>> verify_files(Path("imagevec-db"))                              # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.errors import StoreDamagedError
from imagevec.store.hnsw_files import check_hnsw_folder

__all__ = ["SIDECAR", "mark_verified", "probe_collection", "verified", "verify_files"]

SIDECAR = "imagevec.verified.json"
SQLITE = "chroma.sqlite3"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SKIP = {SIDECAR, "imagevec.lock"}
PROBES = 5
DAMAGED = ".damaged"
"""Suffix of a vector-index folder a repair moved aside (kept for inspection, never read)."""


def fingerprint(folder: Path) -> dict[str, list[int]]:
    """``relative path -> [size, mtime_ns]`` of the store's files (lock and sidecar left out)."""
    out: dict[str, list[int]] = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if name in _SKIP or name.startswith(f"{SIDECAR}."):
                continue
            path = Path(root, name)
            try:
                info = path.stat()
            except OSError:
                continue
            out[path.relative_to(folder).as_posix()] = [info.st_size, info.st_mtime_ns]
    return out


def verified(folder: Path) -> bool:
    """Whether the files are exactly those of the last successful check."""
    try:
        saved = json.loads((folder / SIDECAR).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(saved, dict) and saved.get("files") == fingerprint(folder)


def mark_verified(folder: Path) -> None:
    """Remember the current files as checked (skipped silently on a read-only folder)."""
    tmp = folder / f"{SIDECAR}.{os.getpid()}"
    try:
        tmp.write_text(json.dumps({"format": 1, "files": fingerprint(folder)}))
        os.replace(tmp, folder / SIDECAR)
    except OSError:
        tmp.unlink(missing_ok=True)


def forget_verified(folder: Path) -> None:
    """Drop the record of the last check (after a repair or a detected damage)."""
    (folder / SIDECAR).unlink(missing_ok=True)


def verify_files(folder: Path) -> None:
    """Check the SQLite database and every HNSW folder, without Chroma.

    Raises:
        StoreDamagedError: what is wrong, naming the file.
    """
    location = str(folder)
    database = folder / SQLITE
    if not database.is_file():
        return  # a new store: nothing written yet
    reason = _sqlite_problem(database)
    if reason:
        raise StoreDamagedError(location, reason)
    for header in sorted(folder.glob("*/header.bin")):
        if header.parent.name.endswith(DAMAGED):
            continue  # moved aside by a repair; Chroma does not read it
        reason = check_hnsw_folder(header.parent)
        if reason:
            raise StoreDamagedError(location, reason)


def _sqlite_problem(database: Path) -> str | None:
    size = database.stat().st_size
    if size == 0:
        return f"{SQLITE} is empty (0 bytes)"
    with open(database, "rb") as handle:
        if handle.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
            return f"{SQLITE} is not a SQLite database (damaged header)"
    try:
        with sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True) as conn:
            rows = conn.execute("PRAGMA quick_check(1)").fetchall()
    except sqlite3.DatabaseError as exc:
        return f"{SQLITE} cannot be read ({exc})"
    if rows != [("ok",)]:
        return f"{SQLITE} fails SQLite's integrity check ({rows[0][0]})"
    return None


def probe_collection(collection: Any, samples: int = PROBES) -> str | None:
    """Why the collection's vectors cannot be trusted, or ``None``: a few records spread over
    it must have a vector, and querying with that vector must find the record (or an
    identical vector, for duplicate content). Cheap: ``samples`` gets and one query."""
    from chromadb.errors import ChromaError

    try:
        total = collection.count()
        if total == 0:
            return None
        offsets = sorted({round(i * (total - 1) / max(1, samples - 1)) for i in range(samples)})
        ids, vectors = [], []
        for offset in offsets:
            got = collection.get(limit=1, offset=offset, include=["embeddings"])
            embeddings = got.get("embeddings")
            if not got["ids"] or embeddings is None or len(embeddings) == 0:
                return f"record #{offset} of {total} has no vector"
            ids.append(got["ids"][0])
            vectors.append(np.asarray(embeddings[0], dtype=np.float32))
        found = collection.query(
            query_embeddings=np.stack(vectors),
            n_results=min(10, total),
            include=["distances"],
        )
    except (ChromaError, ValueError, KeyError, IndexError) as exc:
        return f"its vectors cannot be read ({type(exc).__name__}: {exc})"
    for id_, hits, distances in zip(ids, found["ids"], found["distances"], strict=True):
        if id_ not in hits and not (distances and distances[0] <= 1e-4):
            return (
                f"record {id_} is not found by its own vector (the vector index is missing "
                "or out of date)"
            )
    return None
