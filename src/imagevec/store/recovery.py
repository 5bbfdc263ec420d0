"""Settle a store that was not closed cleanly: Chroma's log is the truth, the vector index a cache.

Chroma writes every record (id, vector, metadata) to its log, the ``embeddings_queue`` table
of ``chroma.sqlite3`` (transactional: a kill -9 loses at most the uncommitted write), then
applies the log to the metadata tables and to the HNSW vector index. The HNSW files are
rewritten in place and are **not** crash-safe: a process killed while Chroma persists them
leaves torn files. By default Chroma also purges the log once applied, so the torn files
would hold the only copy of the vectors.

imagevec therefore (:func:`keep_log`) switches the log purge off in every store it writes:
the log keeps every vector ever written (one more copy of each vector, ~4 bytes per
dimension). A store whose log is complete since its creation (:func:`log_complete`) can
always rebuild its vector index from it (:func:`drop_vector_index`: the next Chroma open
replays the log). Stores written by older versions (log purged) keep the older guard:
structural checks, then ``imagevec check --repair`` (re-embedding from the image files).

Collections are also set to persist after every write (``sync_threshold`` 1), so that a
closed store has nothing left in its log to apply and a reader never writes the index files.

Example:
    >>> keep_log(Path("imagevec-db/chroma.sqlite3"))                     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from imagevec.store.integrity import DAMAGED, SQLITE

__all__ = [
    "PERSIST_EVERY",
    "drop_vector_index",
    "keep_log",
    "log_complete",
    "log_vectors",
    "vector_segments",
]

#: Chroma's HNSW ``sync_threshold``/``batch_size`` for imagevec collections.
PERSIST_EVERY = 1
_KEEP = json.dumps({"automatically_purge": False, "_type": "EmbeddingsQueueConfigurationInternal"})


def _connect(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(folder / SQLITE, timeout=30)


def keep_log(folder: Path) -> None:
    """Switch Chroma's log purge off (idempotent; the caller holds the write lock)."""
    with _connect(folder) as conn:
        rows = conn.execute("SELECT id, config_json_str FROM embeddings_queue_config").fetchall()
        if rows and all(json.loads(text).get("automatically_purge") is False for _, text in rows):
            return
        if rows:
            conn.execute("UPDATE embeddings_queue_config SET config_json_str = ?", (_KEEP,))
        else:
            conn.execute(
                "INSERT INTO embeddings_queue_config (id, config_json_str) VALUES (1, ?)", (_KEEP,)
            )


def log_complete(folder: Path) -> bool:
    """Whether the log still holds every write since the store was made (nothing purged)."""
    try:
        with _connect(folder) as conn:
            query = "SELECT config_json_str FROM embeddings_queue_config"
            (config,) = conn.execute(query).fetchone()
            if json.loads(config).get("automatically_purge") is not False:
                return False
            (first,) = conn.execute("SELECT MIN(seq_id) FROM embeddings_queue").fetchone()
            (records,) = conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()
    except (sqlite3.Error, TypeError, ValueError):
        return False
    return first == 1 or (first is None and records == 0)


def vector_segments(folder: Path) -> dict[str, str]:
    """``vector segment id -> collection id`` of the store's HNSW segments."""
    with _connect(folder) as conn:
        rows = conn.execute("SELECT id, collection FROM segments WHERE scope = 'VECTOR'")
        return {str(segment): str(collection) for segment, collection in rows}


def drop_vector_index(folder: Path) -> list[str]:
    """Remove every vector-index folder and its log position, so that Chroma rebuilds the
    index from the complete log at the next open. Safe to repeat after a crash (the folder
    is renamed away before the position is reset; a leftover is removed next time).

    Returns:
        The ids of the vector segments that will be rebuilt.
    """
    segments = vector_segments(folder)
    for segment in segments:
        path = folder / segment
        if path.exists():
            os.replace(path, folder / f"{segment}{DAMAGED}")
    with _connect(folder) as conn:
        conn.executemany("DELETE FROM max_seq_id WHERE segment_id = ?", [(s,) for s in segments])
    for leftover in folder.glob(f"*{DAMAGED}"):
        shutil.rmtree(leftover, ignore_errors=True)
    return list(segments)


def log_vectors(folder: Path, collection_id: str) -> dict[str, bytes | None]:
    """``record id -> the last vector written for it`` (float32 bytes; None once deleted),
    read from the log of one collection (only meaningful when :func:`log_complete`)."""
    out: dict[str, bytes | None] = {}
    with _connect(folder) as conn:
        rows = conn.execute(
            "SELECT id, operation, vector FROM embeddings_queue WHERE topic LIKE ? ORDER BY seq_id",
            (f"%{collection_id}",),
        )
        for id_, operation, vector in rows:
            if operation == 3:  # delete
                out[id_] = None
            elif vector is not None:
                out[id_] = bytes(vector)
    return out


def persist_every_write(collection: object) -> None:
    """Make Chroma persist the collection's vector index after every write (see module doc)."""
    configuration = getattr(collection, "configuration", None) or {}
    hnsw = configuration.get("hnsw") if isinstance(configuration, dict) else None
    if isinstance(hnsw, dict) and hnsw.get("sync_threshold") == PERSIST_EVERY:
        return
    collection.modify(  # type: ignore[attr-defined]
        configuration={"hnsw": {"sync_threshold": PERSIST_EVERY, "batch_size": PERSIST_EVERY}}
    )


def settle(folder: Path) -> list[str]:
    """Bring a store that was not closed cleanly to a clean state (the caller holds the
    write lock): rebuild the vector index from a complete log, else check its files and
    probe its vectors; then apply what is left in the log and mark the store clean.

    Returns:
        What was done, in words (empty when nothing needed doing).

    Raises:
        StoreDamagedError: the database is damaged, or (log incomplete) the vector index.
    """
    import chromadb
    from chromadb.config import Settings
    from chromadb.errors import ChromaError

    from imagevec.errors import StoreDamagedError
    from imagevec.store.hnsw_files import check_hnsw_folder
    from imagevec.store.integrity import (
        mark_clean,
        probe_collection,
        segment_folders,
        sqlite_problem,
    )

    reason = sqlite_problem(folder / SQLITE)
    if reason:
        raise StoreDamagedError(str(folder), reason)
    if not (folder / SQLITE).is_file():
        return []
    done = []
    complete = log_complete(folder)
    if complete:
        if segment_folders(folder):
            done.append("vector index rebuilt from the log")
        drop_vector_index(folder)
    else:
        for segment in segment_folders(folder):
            reason = check_hnsw_folder(segment)
            if reason:
                raise StoreDamagedError(str(folder), reason)
    client: Any = chromadb.PersistentClient(
        path=os.fspath(folder), settings=Settings(anonymized_telemetry=False)
    )
    try:
        keep_log(folder)
        for listed in client.list_collections():
            collection = client.get_collection(listed.name, embedding_function=None)
            persist_every_write(collection)
            got: Any = collection.get(limit=1, include=["embeddings"])
            if got["ids"]:  # a query applies what is left in the log (and persists it)
                collection.query(query_embeddings=[got["embeddings"][0]], n_results=1)
            if not complete:
                reason = probe_collection(collection)
                if reason:
                    raise StoreDamagedError(str(folder), reason, listed.name)
    except ChromaError as exc:
        raise StoreDamagedError(str(folder), f"Chroma cannot read it ({exc})") from exc
    finally:
        client.close()
    mark_clean(folder)
    return done
