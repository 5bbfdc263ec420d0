"""Trust a store only after checking it: a clean mark written after each write, checked on open.

A writer marks the store **dirty** before its first write (:func:`mark_dirty` removes the
clean mark) and **clean** when it is done (:func:`mark_clean` records the size, CRC-32,
mtime, ctime and inode of every file of every vector-index folder in
``imagevec.clean.json``). Every open compares the files with the mark (:func:`is_clean`):
when size, mtime, ctime and inode are all unchanged the files were neither written nor
touched since (the kernel sets ctime on every write and every ``utime``; no user sets it
back), which costs a ``stat`` per file; otherwise every byte is read and compared by CRC-32
(about 1 s per GB, see docs/store.md), e.g. after a copy of the folder or an edit that
restored the mtime.

No mark, or files that differ from it (a writer killed mid-write, bit rot that kept size and
mtime, vectors swapped inside ``data_level0.bin``) make the opener settle the store first
(:mod:`imagevec.store.recovery`): rebuild the vector index from Chroma's log when the log is
complete, else check the files (:func:`verify_files`) before Chroma reads a byte of them (a
damaged vector index crashes the process, it does not raise) and probe the vectors
(:func:`probe_collection`).

Example:
    >>> is_clean(Path("imagevec-db"))                                  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.errors import StoreDamagedError
from imagevec.store.hnsw_files import check_hnsw_folder

__all__ = [
    "SIDECAR",
    "is_clean",
    "mark_clean",
    "mark_dirty",
    "probe_collection",
    "segment_folders",
    "verify_files",
]

SIDECAR = "imagevec.clean.json"
_OLD_SIDECAR = "imagevec.verified.json"  # size+mtime only: never trusted again
SQLITE = "chroma.sqlite3"
_SQLITE_MAGIC = b"SQLite format 3\x00"
PROBES = 5
DAMAGED = ".damaged"
"""Suffix of a vector-index folder a repair moved aside (removed when the repair ends)."""
_CHUNK = 8 << 20
_written_here: set[str] = set()  # folders this process marked dirty and not clean since


def segment_folders(folder: Path) -> list[Path]:
    """The vector-index folders of a store (``<uuid>/`` holding ``header.bin``)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and not p.name.endswith(DAMAGED) and (p / "header.bin").exists()
    ) if folder.is_dir() else []  # fmt: skip


def _crc(path: Path) -> int:
    crc = 0
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def _sizes(folder: Path) -> dict[str, int]:
    out = {}
    for segment in segment_folders(folder):
        for path in segment.iterdir():
            if path.is_file() and not path.name.startswith("."):
                out[path.relative_to(folder).as_posix()] = path.stat().st_size
    return out


def _stamp(path: Path) -> list[int]:
    """What the kernel says of a file that no user can set back: ctime changes with every
    write and every ``utime`` (restoring an mtime does not restore it)."""
    info = path.stat()
    return [info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def file_digests(folder: Path) -> dict[str, list[int]]:
    """``relative path -> [size, crc32, mtime_ns, ctime_ns, inode]`` of every file of every
    vector-index folder."""
    return {
        name: [size, _crc(folder / name), *_stamp(folder / name)]
        for name, size in sorted(_sizes(folder).items())
    }


def is_clean(folder: Path) -> bool:
    """Whether the last writer finished cleanly and no byte of the vector index changed since."""
    try:
        saved = json.loads((folder / SIDECAR).read_text())
    except (OSError, ValueError):
        return False
    files = saved.get("files") if isinstance(saved, dict) else None
    if not isinstance(files, dict) or saved.get("format") != 2:
        return False
    sizes = _sizes(folder)
    if {k: (v[0] if isinstance(v, list) and v else None) for k, v in files.items()} != sizes:
        return False  # cheap first: a file added, gone or resized
    try:
        if all(files[name][2:] == _stamp(folder / name) for name in sizes):
            return True  # not written, not touched since the mark: no need to read it
        return all(files[name][1] == _crc(folder / name) for name in sizes)
    except (OSError, IndexError, TypeError):
        return False


def mark_clean(folder: Path) -> None:
    """Record the vector-index files as written completely (skipped on a read-only folder)."""
    tmp = folder / f".{SIDECAR}.{os.getpid()}"
    try:
        tmp.write_text(json.dumps({"format": 2, "files": file_digests(folder)}))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, folder / SIDECAR)
        (folder / _OLD_SIDECAR).unlink(missing_ok=True)
        _written_here.discard(str(folder.resolve()))
    except OSError:
        tmp.unlink(missing_ok=True)


def mark_dirty(folder: Path) -> None:
    """Remove the clean mark before a write: if this process dies, the next open settles."""
    _written_here.add(str(folder.resolve()))
    (folder / SIDECAR).unlink(missing_ok=True)
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)  # the removal is on disk before the first byte is written
    finally:
        os.close(descriptor)


def written_here(folder: Path) -> bool:
    """Whether this process wrote to ``folder`` since it was last marked clean."""
    return str(folder.resolve()) in _written_here


def verify_files(folder: Path) -> None:
    """Check the SQLite database and every vector-index folder, without Chroma.

    Raises:
        StoreDamagedError: what is wrong, naming the file.
    """
    reason = sqlite_problem(folder / SQLITE)
    if reason:
        raise StoreDamagedError(str(folder), reason)
    for segment in segment_folders(folder):
        reason = check_hnsw_folder(segment)
        if reason:
            raise StoreDamagedError(str(folder), reason)


def sqlite_header_problem(database: Path) -> str | None:
    """Why ``chroma.sqlite3`` is not a whole SQLite database, from its 100-byte header alone
    (cheap: checked on every open); None when sound or not there yet."""
    if not database.is_file():
        return None
    size = database.stat().st_size
    if size == 0:
        return f"{SQLITE} is empty (0 bytes)"
    with open(database, "rb") as handle:
        head = handle.read(100)
    if not head.startswith(_SQLITE_MAGIC) or len(head) < 100:
        return f"{SQLITE} is not a SQLite database (damaged header)"
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    valid = head[24:28] == head[92:96]  # the page count is only kept up to date then
    if valid and pages and pages * page > size:
        return f"{SQLITE} is cut short ({size} of {pages * page} bytes)"
    return None


def sqlite_problem(database: Path) -> str | None:
    """Why ``chroma.sqlite3`` cannot be read, or None (also None when there is none yet)."""
    reason = sqlite_header_problem(database)
    if reason or not database.is_file():
        return reason
    try:
        rows = _quick_check(f"{database.resolve().as_uri()}?mode=ro")
    except sqlite3.OperationalError as exc:
        if "readonly" not in str(exc):
            return f"{SQLITE} cannot be read ({exc})"
        try:  # a transaction cut short by a kill: SQLite rolls its journal back first
            rows = _quick_check(database.resolve().as_uri())
        except sqlite3.DatabaseError as again:
            return f"{SQLITE} cannot be read ({again})"
    except sqlite3.DatabaseError as exc:
        return f"{SQLITE} cannot be read ({exc})"
    if rows != [("ok",)]:
        return f"{SQLITE} fails SQLite's integrity check ({rows[0][0]})"
    return None


def _quick_check(uri: str) -> list[Any]:
    conn = sqlite3.connect(uri, uri=True, timeout=30)
    try:
        return conn.execute("PRAGMA quick_check(1)").fetchall()
    finally:
        conn.close()


def probe_collection(collection: Any, samples: int = PROBES) -> str | None:
    """Why the collection's vectors cannot be trusted, or ``None``: a few records spread over
    it must have a vector, and querying with that vector must find the record (or an
    identical vector, for duplicate content). Cheap: ``samples`` gets and one query. Used
    only where the log cannot rebuild the index (stores written before the log was kept)."""
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
            n_results=min(100, total),
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
