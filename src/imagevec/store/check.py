"""Check a store in depth, by exact comparison, and repair it.

:func:`check_store` asks of every collection (or one): are the store's files sound
(:mod:`imagevec.store.integrity`: SQLite's own check, the vector-index structure, the clean
mark of the last write), does every record have a vector, and is that vector the one that was
written? The last question is answered by **exact comparison**, never by asking the
approximate index to find each record (an HNSW miss is not damage): each vector read back is
compared with the digest kept in the record's metadata (:mod:`imagevec.store.digest`) and,
when Chroma's log is complete, with the vector the log holds for it
(:mod:`imagevec.store.recovery`).

With ``repair=True``: a store whose log is complete has its vector index rebuilt from the
log (nothing re-embedded, nothing lost). Otherwise (stores written before the log was kept)
damaged vector-index folders are removed, sound vectors kept and the others re-embedded from
the image files whose content is unchanged; records whose files are gone or changed are
dropped and listed with the reason. A damaged ``chroma.sqlite3`` cannot be repaired this
way (the records themselves are in it): re-index.

Example:
    >>> report = check_store("imagevec-db", repair=True)             # doctest: +SKIP
    >>> print(report.summary())                                      # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.errors import ConfigError, StoreDamagedError
from imagevec.store import integrity, recovery
from imagevec.store.chroma import DEFAULT_COLLECTION, Store
from imagevec.store.digest import DIGEST, digest_matches
from imagevec.store.record import SHA256
from imagevec.store.records import sha256_file
from imagevec.store.uris import uri_from_metadata

__all__ = ["CheckReport", "CollectionCheck", "check_store"]

_PAGE = 500


@dataclass
class CollectionCheck:
    """What :func:`check_store` found in one collection (and did, with ``repair``).

    ``wrong_vector``: records whose vector is not the one written (digest or log differ);
    ``lost``: URIs of records a repair dropped, with the reason in ``why``.
    """

    name: str
    records: int = 0
    no_vector: list[str] = field(default_factory=list)
    wrong_vector: list[str] = field(default_factory=list)
    repaired: int = 0
    lost: list[str] = field(default_factory=list)
    why: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every record has its own vector (after a repair, if any)."""
        return not (self.no_vector or self.wrong_vector) or (self.repaired > 0 and not self.lost)


@dataclass
class CheckReport:
    """The outcome of :func:`check_store`."""

    location: str
    files_problem: str | None = None
    collections: list[CollectionCheck] = field(default_factory=list)
    rebuilt_from_log: bool = False
    removed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is (left) wrong."""
        files_ok = self.files_problem is None or self.rebuilt_from_log or bool(self.removed)
        return files_ok and all(c.ok for c in self.collections)

    def summary(self) -> str:
        """Lines a person reads: the files, then each collection."""
        lines = [f"{self.location}: " + ("ok" if self.ok else "PROBLEMS")]
        if self.files_problem:
            lines.append(f"  files: {self.files_problem}")
        if self.rebuilt_from_log:
            lines.append("  repaired: vector index rebuilt from the store's log (nothing lost)")
        lines += [f"  removed damaged vector index: {path}" for path in self.removed]
        for c in self.collections:
            line = (
                f"  {c.name}: {c.records} records, {len(c.no_vector)} without a vector, "
                f"{len(c.wrong_vector)} with a vector that is not theirs"
            )
            if c.repaired or c.lost:
                line += f"; repaired {c.repaired}, dropped {len(c.lost)}"
            lines.append(line)
            lines += [f"    dropped ({c.why.get(uri, 'lost')}): {uri}" for uri in c.lost]
        return "\n".join(lines)


def check_store(
    path: str | os.PathLike[str],
    *,
    collection: str | None = None,
    repair: bool = False,
    encoder_for: Callable[..., Any] | None = None,
) -> CheckReport:
    """Check an embedded store in depth; with ``repair``, rebuild what is damaged.

    Args:
        path: the store folder.
        collection: only this collection (default: all).
        repair: rebuild what is damaged (from the log; else re-embed from the image files,
            which needs ``encoder_for``).
        encoder_for: builds the encoder a collection's stamp names, called with the
            stamp's config as keywords: :func:`imagevec.create_encoder` (or a
            ``functools.partial`` of it with a ``device``). The store knows no model.

    Raises:
        StoreNotFoundError: no store there.
    """
    from imagevec.errors import StoreNotFoundError
    from imagevec.store.locking import acquire

    folder = Path(path).expanduser()
    if not (folder / integrity.SQLITE).is_file():
        raise StoreNotFoundError(folder)
    report = CheckReport(str(folder))
    with acquire(folder, exclusive=repair):
        clean = integrity.is_clean(folder)
        try:
            integrity.verify_files(folder)
        except StoreDamagedError as exc:
            report.files_problem = exc.reason
            if exc.reason.startswith(integrity.SQLITE):
                return report  # the records themselves are damaged: nothing to rebuild from
            if not repair:
                return report  # Chroma must not read the damaged files
        complete = recovery.log_complete(folder)
        if repair and complete and (report.files_problem or not clean):
            recovery.settle(folder)  # a rebuild from the log
            report.rebuilt_from_log = True
        elif repair and report.files_problem:
            report.removed = _remove_damaged(folder)
        _check_collections(folder, report, collection, repair, complete, encoder_for)
        if repair:
            _remove_orphans(folder)
    return report


def _check_collections(
    folder: Path,
    report: CheckReport,
    only: str | None,
    repair: bool,
    complete: bool,
    encoder_for: Callable[..., Any] | None,
) -> None:
    import chromadb
    from chromadb.config import Settings

    client: Any = chromadb.PersistentClient(
        path=str(folder), settings=Settings(anonymized_telemetry=False)
    )
    try:
        names = sorted(c.name for c in client.list_collections())
        for name in [n for n in names if only in (None, n)] or [only or DEFAULT_COLLECTION]:
            if name not in names:
                continue
            store = Store(client, name, location=str(folder), folder=folder)
            found, records = _check_collection(store, folder, complete)
            report.collections.append(found)
            if not (repair and (found.no_vector or found.wrong_vector)):
                continue
            if complete:
                client.close()
                recovery.drop_vector_index(folder)
                recovery.settle(folder)
                report.rebuilt_from_log = True
                client = chromadb.PersistentClient(
                    path=str(folder), settings=Settings(anonymized_telemetry=False)
                )
                again, _ = _check_collection(
                    Store(client, name, location=str(folder), folder=folder), folder, complete
                )
                found.repaired = len(found.no_vector) + len(found.wrong_vector)
                if again.no_vector or again.wrong_vector:
                    found.lost = again.no_vector + again.wrong_vector
                    found.why = dict.fromkeys(found.lost, "still wrong after a rebuild")
            else:
                _rebuild(store, found, records, encoder_for)
        if repair:
            integrity.mark_clean(folder)
    finally:
        client.close()


def _remove_damaged(folder: Path) -> list[str]:
    """Remove vector-index folders that fail the structural check (incomplete log only)."""
    from imagevec.store.hnsw_files import check_hnsw_folder

    removed = []
    for segment in integrity.segment_folders(folder):
        if check_hnsw_folder(segment):
            shutil.rmtree(segment)
            removed.append(str(segment))
    return removed


def _remove_orphans(folder: Path) -> None:
    """Remove folders no vector segment owns any more (old ones after a rebuild)."""
    owned = set(recovery.vector_segments(folder))
    for child in folder.iterdir():
        name = child.name.removesuffix(integrity.DAMAGED)
        if child.is_dir() and len(name) == 36 and name.count("-") == 4 and (
            child.name != name or name not in owned
        ):  # fmt: skip
            shutil.rmtree(child, ignore_errors=True)


_Records = tuple[list[str], list[dict], dict[str, np.ndarray]]


def _records(store: Store) -> _Records:
    """Every record's id and metadata (from SQLite), and the vectors that can be read."""
    from chromadb.errors import ChromaError

    ids, metas = [], []
    for id_, meta in store.iter_metadata():
        ids.append(id_)
        metas.append(meta)
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(ids), _PAGE):
        page = ids[start : start + _PAGE]
        try:
            got = store.collection.get(ids=page, include=["embeddings"])
        except (ChromaError, ValueError):
            for one in page:  # find which ones fail
                try:
                    single = store.collection.get(ids=[one], include=["embeddings"])
                    vectors[one] = np.asarray(single["embeddings"][0], dtype=np.float32)
                except (ChromaError, ValueError, IndexError, TypeError):
                    continue
            continue
        for id_, vector in zip(got["ids"], got["embeddings"], strict=True):
            if vector is not None and len(vector):
                vectors[id_] = np.asarray(vector, dtype=np.float32)
    return ids, metas, vectors


def _check_collection(
    store: Store, folder: Path, complete: bool
) -> tuple[CollectionCheck, _Records]:
    """Exact comparison of each vector read back with its digest and with the log."""
    records = _records(store)
    ids, metas, vectors = records
    found = CollectionCheck(store.name, records=len(ids))
    found.no_vector = [id_ for id_ in ids if id_ not in vectors]
    logged = recovery.log_vectors(folder, str(store.collection.id)) if complete else {}
    for id_, meta in zip(ids, metas, strict=True):
        vector = vectors.get(id_)
        if vector is None:
            continue
        wrong = DIGEST in meta and not digest_matches(meta[DIGEST], vector)
        written = logged.get(id_)
        if written is not None and not wrong:
            original = np.frombuffer(written, dtype=np.float32)
            scale = float(np.abs(original).max(initial=0.0)) or 1.0
            wrong = original.shape != vector.shape or bool(
                np.abs(original - vector).max(initial=0.0) > 1e-4 * scale
            )
        if wrong:
            found.wrong_vector.append(id_)
    return found, records


def _rebuild(
    store: Store,
    found: CollectionCheck,
    records: _Records,
    encoder_for: Callable[..., Any] | None,
) -> None:
    """Recreate the collection: sound vectors kept, the rest re-embedded from the files."""
    ids, metas, vectors = records
    bad = set(found.no_vector) | set(found.wrong_vector)
    keep = {i: v for i, v in vectors.items() if i not in bad}
    todo: list[tuple[str, dict, str]] = []
    for id_, meta in zip(ids, metas, strict=True):
        if id_ in keep:
            continue
        uri = uri_from_metadata(meta)
        try:
            unchanged = sha256_file(Path(uri)) == meta.get(SHA256)
            reason = "the image file changed since it was indexed"
        except OSError as exc:
            unchanged = False
            reason = "the image file is gone" if isinstance(exc, FileNotFoundError) else (
                f"the image file cannot be read ({exc.strerror})"
            )  # fmt: skip
        if unchanged:
            todo.append((id_, meta, uri))
        else:
            found.lost.append(uri)
            found.why[uri] = reason
    fresh: dict[str, np.ndarray] = {}
    if todo:
        stamp = store.stamp or {}
        config = dict(stamp.get("config") or {"model": stamp.get("model")})
        if encoder_for is None:
            raise ConfigError("repairing needs encoder_for= (e.g. imagevec.create_encoder)")
        encoder = encoder_for(**config)
        result = encoder.encode_images([uri for _, _, uri in todo], on_error="skip")
        for row, index in enumerate(result.indices):
            fresh[todo[index][0]] = result.vectors[row]
        for failure in result.failures:
            uri = todo[failure.index][2]
            found.lost.append(uri)
            found.why[uri] = f"the image cannot be read ({failure.reason})"
    metadata = dict(store.collection.metadata or {})
    store.begin_write()
    store.client.delete_collection(store.name)
    store._collection = None
    store.create(metadata)
    rows = [(i, m) for i, m in zip(ids, metas, strict=True) if i in keep or i in fresh]
    if rows:
        vectors_out = np.stack([keep[i] if i in keep else fresh[i] for i, _ in rows])
        store.upsert([i for i, _ in rows], vectors_out, [m for _, m in rows])
    found.repaired = len(rows) - len(keep)
