"""The cluster's part: callable classes that Ray Data runs as actors (``map_batches``).

* :class:`Embed` rebuilds the encoder once from its serialisable config
  (``create_encoder(**config)``), hashes and describes each file with the records code and
  runs imagevec's own decode + batching loop (:func:`imagevec.batching.iter_encoded_batches`
  via ``Encoder.iter_batches``) over its block. A bad file becomes a ``failed`` row naming
  it; the block goes on.
* :class:`ChromaWriter` writes the embedded rows with the public
  :meth:`imagevec.ImageIndex.upsert_vectors` (batched under the server's max batch size) and
  passes on only small status rows.
* :class:`ParquetWriter` writes each batch as one Parquet shard (id, uri, vector, metadata).

Writes live in their own stage, not in the model actors: a GPU never waits on the network,
write batches are sized for the server rather than for the model, and the number of
concurrent writers is set for what the store can ingest (one for a single Chroma server).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

STATUS_COLUMNS = ("id", "source", "status", "reason")


def _status(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {key: np.asarray(batch[key]) for key in STATUS_COLUMNS}


class Embed:
    """Model actor: rows from :func:`~imagevec.scale.plan.plan_rows` -> vectors and records.

    Args:
        config: the encoder's :attr:`~imagevec.Encoder.config` (device set per actor).
        batch_size: images per forward pass.
        threads: torch threads and decode threads.
        on_error: ``skip`` bad files (reported as rows), or ``raise``.
    """

    def __init__(
        self, config: Mapping[str, Any], batch_size: int, threads: int, on_error: str = "skip"
    ) -> None:
        import torch

        from imagevec.encoders.registry import create_encoder

        torch.set_num_threads(threads)
        self.encoder = create_encoder(**config)
        self.batch_size, self.threads, self.on_error = batch_size, threads, on_error

    def __call__(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from imagevec.store.records import file_uri, new_metadata, sha256_file

        count = len(batch["id"])
        out: dict[str, list[Any]] = {key: [] for key in (*STATUS_COLUMNS, "uri", "metadata")}
        vectors = np.zeros((count, self.encoder.dim), dtype=np.float32)
        todo: list[tuple[int, Path]] = []
        for row in range(count):
            path = Path(os.fsdecode(bytes(batch["path"][row])))
            out["id"].append(str(batch["id"][row]))
            out["source"].append(str(path))
            out["uri"].append(file_uri(path))
            out["status"].append("indexed" if bool(batch["new"][row]) else "updated")
            out["reason"].append("")
            out["metadata"].append("")
            try:
                digest = str(batch["digest"][row]) or sha256_file(path)
            except OSError as exc:
                self._fail(out, row, str(exc))
                continue
            out["metadata"][row] = json.dumps(
                new_metadata(path, digest, json.loads(str(batch["fresh"][row])))
            )
            todo.append((row, path))
        sources = [path for _, path in todo]
        for encoded in self.encoder.iter_batches(
            sources, batch_size=self.batch_size, on_error=self.on_error, num_workers=self.threads
        ):
            rows = [todo[i][0] for i in encoded.indices]
            vectors[rows] = encoded.vectors
            for bad in encoded.failures:
                self._fail(out, todo[bad.index][0], bad.reason)
        return {**{k: np.asarray(v) for k, v in out.items()}, "vector": vectors}

    @staticmethod
    def _fail(out: dict[str, list[Any]], row: int, reason: str) -> None:
        out["status"][row], out["reason"][row] = "failed", reason


def _records(batch: Mapping[str, np.ndarray]) -> tuple[list[int], list[Any]]:
    from imagevec.types import VectorRecord

    keep = [i for i, status in enumerate(batch["status"]) if status != "failed"]
    records = [
        VectorRecord(str(batch["uri"][i]), batch["vector"][i], json.loads(batch["metadata"][i]))
        for i in keep
    ]
    return keep, records


class ChromaWriter:
    """Writer actor: upserts embedded rows into a collection of a Chroma server.

    Args:
        url: the server, e.g. ``http://chroma:8000``.
        collection: the (already stamped) collection.
        stamp: the encoder stamp, checked against the collection.
    """

    def __init__(self, url: str, collection: str, stamp: Mapping[str, Any]) -> None:
        from imagevec.index import ImageIndex

        self.index = ImageIndex(url=url, collection=collection)
        self.stamp = dict(stamp)

    def __call__(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        _, records = _records(batch)
        if records:
            self.index.upsert_vectors(records, stamp=self.stamp)
        return _status(batch)


class ParquetWriter:
    """Writer actor: one Parquet shard per batch under ``folder`` (id, uri, vector, metadata).

    ``metadata`` is the record's metadata as JSON (its fields differ from file to file);
    the encoder stamp is in each file's schema metadata under ``imagevec:stamp``.
    """

    def __init__(self, folder: str, stamp: Mapping[str, Any]) -> None:
        self.folder = Path(folder)
        self.stamp = json.dumps(dict(stamp), sort_keys=True)

    def __call__(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        keep, _ = _records(batch)
        if keep:
            vectors = np.ascontiguousarray(batch["vector"][keep], dtype=np.float32)
            dim = vectors.shape[1]
            table = pa.table(
                {
                    "id": pa.array([str(batch["id"][i]) for i in keep], pa.string()),
                    "uri": pa.array([str(batch["uri"][i]) for i in keep], pa.string()),
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim),
                    "metadata": pa.array([str(batch["metadata"][i]) for i in keep], pa.string()),
                }
            ).replace_schema_metadata({"imagevec:stamp": self.stamp})
            name = f"part-{uuid.uuid4().hex}.parquet"
            pq.write_table(table, self.folder / f".{name}.tmp")
            os.replace(self.folder / f".{name}.tmp", self.folder / name)  # never a half shard
        return _status(batch)
