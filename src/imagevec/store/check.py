"""Check a store in depth and repair its vectors from the image files.

:func:`check_store` reads every record of every collection (or one) and asks three questions:
are the store's files sound (:mod:`imagevec.store.integrity`), does every record have a
vector, and does querying with that vector find the record (a full self-query, in batches)?
With ``repair=True`` a collection with problems is rebuilt: damaged vector-index folders are
moved aside (``<name>.damaged``), the records are read back from ``chroma.sqlite3`` (they keep
the file's path and sha256), sound vectors are kept, the others are re-embedded from the files
whose content is unchanged, and files that are gone or changed are listed as lost. A damaged
``chroma.sqlite3`` cannot be repaired this way (the records themselves are in it): re-index.

Example:
    >>> report = check_store("imagevec-db", repair=True)             # doctest: +SKIP
    >>> print(report.summary())                                      # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.errors import ConfigError, StoreDamagedError
from imagevec.store import integrity
from imagevec.store.chroma import DEFAULT_COLLECTION, Store
from imagevec.store.hnsw_files import check_hnsw_folder
from imagevec.store.record import SHA256
from imagevec.store.records import sha256_file
from imagevec.store.uris import uri_from_metadata

__all__ = ["CheckReport", "CollectionCheck", "check_store"]

_PAGE = 500


@dataclass
class CollectionCheck:
    """What :func:`check_store` found in one collection (and did, with ``repair``)."""

    name: str
    records: int = 0
    no_vector: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    repaired: int = 0
    lost: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every record has a vector that finds it (after a repair, if any)."""
        return not (self.no_vector or self.not_found) or (self.repaired > 0 and not self.lost)


@dataclass
class CheckReport:
    """The outcome of :func:`check_store`."""

    location: str
    files_problem: str | None = None
    collections: list[CollectionCheck] = field(default_factory=list)
    moved_aside: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is (left) wrong."""
        files_ok = self.files_problem is None or bool(self.moved_aside)
        return files_ok and all(c.ok for c in self.collections)

    def summary(self) -> str:
        """Lines a person reads: the files, then each collection."""
        lines = [f"{self.location}: " + ("ok" if self.ok else "PROBLEMS")]
        if self.files_problem:
            lines.append(f"  files: {self.files_problem}")
        lines += [f"  moved aside: {path}" for path in self.moved_aside]
        for c in self.collections:
            line = (
                f"  {c.name}: {c.records} records, {len(c.no_vector)} without a vector, "
                f"{len(c.not_found)} not found by their own vector"
            )
            if c.repaired or c.lost:
                line += f"; repaired {c.repaired}, lost {len(c.lost)}"
            lines.append(line)
            lines += [f"    lost (file gone or changed): {uri}" for uri in c.lost]
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
        repair: rebuild collections with problems (needs the image files, and
            ``encoder_for`` to re-embed them).
        encoder_for: builds the encoder a collection's stamp names, called with the
            stamp's config as keywords: :func:`imagevec.create_encoder` (or a
            ``functools.partial`` of it with a ``device``). The store knows no model.

    Raises:
        StoreDamagedError: ``chroma.sqlite3`` itself is damaged (nothing to rebuild from).
        StoreNotFoundError: no store there.
    """
    import chromadb
    from chromadb.config import Settings

    from imagevec.errors import StoreNotFoundError
    from imagevec.store.locking import acquire

    folder = Path(path).expanduser()
    if not (folder / integrity.SQLITE).is_file():
        raise StoreNotFoundError(folder)
    report = CheckReport(str(folder))
    with acquire(folder, exclusive=repair):
        integrity.forget_verified(folder)
        try:
            integrity.verify_files(folder)
        except StoreDamagedError as exc:
            report.files_problem = exc.reason
            if exc.reason.startswith(integrity.SQLITE):
                return report  # the records themselves are damaged: nothing to rebuild from
            if not repair:
                return report  # Chroma must not read the damaged files
            report.moved_aside = _move_damaged_aside(folder)
        client = chromadb.PersistentClient(
            path=str(folder), settings=Settings(anonymized_telemetry=False)
        )
        names = sorted(c.name for c in client.list_collections())
        for name in [n for n in names if collection in (None, n)] or [
            collection or DEFAULT_COLLECTION
        ]:
            if name not in names:
                continue
            store = Store(client, name, location=str(folder))
            found, records = _check_collection(store)
            report.collections.append(found)
            if repair and (found.no_vector or found.not_found):
                _rebuild(store, found, records, encoder_for)
    return report


def _move_damaged_aside(folder: Path) -> list[str]:
    moved = []
    for header in sorted(folder.glob("*/header.bin")):
        segment = header.parent
        if not segment.name.endswith(integrity.DAMAGED) and check_hnsw_folder(segment):
            target = segment.with_name(segment.name + integrity.DAMAGED)
            os.replace(segment, target)
            moved.append(str(target))
    return moved


def _records(store: Store) -> tuple[list[str], list[dict], dict[str, np.ndarray]]:
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


_Records = tuple[list[str], list[dict], dict[str, np.ndarray]]


def _check_collection(store: Store) -> tuple[CollectionCheck, _Records]:
    from chromadb.errors import ChromaError

    records = _records(store)
    ids, _, vectors = records
    found = CollectionCheck(store.name, records=len(ids))
    found.no_vector = [id_ for id_ in ids if id_ not in vectors]
    have = [id_ for id_ in ids if id_ in vectors]
    k = min(10, len(ids))
    for start in range(0, len(have), _PAGE):
        page = have[start : start + _PAGE]
        try:
            hits = store.collection.query(
                query_embeddings=np.stack([vectors[i] for i in page]),
                n_results=k,
                include=["distances"],
            )
        except (ChromaError, ValueError):
            found.not_found += page
            continue
        for id_, got, distances in zip(page, hits["ids"], hits["distances"], strict=True):
            if id_ not in got and not (distances and distances[0] <= 1e-4):
                found.not_found.append(id_)
    return found, records


def _rebuild(
    store: Store,
    found: CollectionCheck,
    records: _Records,
    encoder_for: Callable[..., Any] | None,
) -> None:
    """Recreate the collection: sound vectors kept, the rest re-embedded from the files."""
    ids, metas, vectors = records
    bad = set(found.no_vector) | set(found.not_found)
    keep = {i: v for i, v in vectors.items() if i not in bad}
    todo: list[tuple[str, dict, str]] = []
    for id_, meta in zip(ids, metas, strict=True):
        if id_ in keep:
            continue
        uri = uri_from_metadata(meta)
        try:
            unchanged = sha256_file(Path(uri)) == meta.get(SHA256)
        except OSError:
            unchanged = False
        if unchanged:
            todo.append((id_, meta, uri))
        else:
            found.lost.append(uri)
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
        found.lost += [todo[f.index][2] for f in result.failures]
    metadata = dict(store.collection.metadata or {})
    store.client.delete_collection(store.name)
    store._collection = None
    store.create(metadata)
    rows = [(i, m) for i, m in zip(ids, metas, strict=True) if i in keep or i in fresh]
    if rows:
        vectors_out = np.stack([keep[i] if i in keep else fresh[i] for i, _ in rows])
        store.upsert([i for i, _ in rows], vectors_out, [m for _, m in rows])
    found.repaired = len(rows) - len(keep)
