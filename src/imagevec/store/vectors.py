"""Writing vectors computed elsewhere (Ray, Spark, a notebook) as imagevec records.

The records are those of ``ImageIndex.add``: the id comes from the URI
(:func:`~imagevec.store.records.record_id`), the metadata from
:func:`~imagevec.store.records.file_record`, the collection carries the encoder stamp. So a
collection filled this way is searched, re-indexed and pruned like any other.

Example:
    >>> from imagevec.store.records import file_record                  # doctest: +SKIP
    >>> index.upsert_vectors([file_record(p, v) for p, v in rows])      # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from imagevec.errors import CollectionNotFoundError, ConfigError
from imagevec.store.chroma import Store, collection_names
from imagevec.store.record import URI
from imagevec.store.records import record_id
from imagevec.store.stamp import check_identity, read_stamp
from imagevec.store.uris import stored_path_fields, uri_from_metadata
from imagevec.types import VectorRecord


def ensure_stamped(store: Store, stamp: Mapping[str, Any]) -> None:
    """Create the collection with ``stamp`` (collection metadata from
    :func:`~imagevec.store.stamp.encoder_stamp`), or check that it already carries it.

    Raises:
        EncoderMismatchError: the collection was written by another encoder.
    """
    mine = read_stamp(stamp)
    if mine is None:
        raise ConfigError("stamp holds no imagevec:* keys (use imagevec's encoder_stamp)")
    if not store.exists:
        store.create(stamp)
    check_identity(store.stamp or {}, mine, store.name, store.location)


def prepare(records: Iterable[VectorRecord], dim: int) -> tuple[list[str], np.ndarray, list[dict]]:
    """Ids, L2-normalised float32 vectors and metadata of ``records``, checked.

    Raises:
        ConfigError: a vector of the wrong size or not finite, or metadata that disagrees
            with the record's URI.
    """
    ids: list[str] = []
    rows: list[np.ndarray] = []
    metas: list[dict] = []
    for record in records:
        vector = np.asarray(record.vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != dim or not np.all(np.isfinite(vector)):
            raise ConfigError(
                f"vector for {record.uri} has {vector.shape[0]} values (finite: "
                f"{bool(np.all(np.isfinite(vector)))}); the collection holds {dim}-d vectors"
            )
        meta = dict(record.metadata)
        if URI not in meta:
            meta.update(stored_path_fields(record.uri))
        if uri_from_metadata(meta) != record.uri:
            raise ConfigError(f"metadata uri {meta[URI]!r} is not the record's {record.uri!r}")
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            raise ConfigError(f"vector for {record.uri} is all zeros")
        ids.append(record_id(record.uri))
        rows.append(vector / norm)
        metas.append(meta)
    vectors = np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)
    return ids, vectors, metas


def write_vectors(store: Store, records: Iterable[VectorRecord]) -> int:
    """Upsert ``records`` into the (stamped) collection, in batches under the server's maximum.

    Returns:
        The number of records written.
    """
    stamp = store.stamp
    if stamp is None:
        raise CollectionNotFoundError(store.name, store.location, collection_names(store.client))
    ids, vectors, metas = prepare(records, int(stamp["dim"]))
    if ids:
        store.upsert(ids, vectors, metas)
    return len(ids)
