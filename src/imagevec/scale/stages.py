"""The cluster's part: the model actor and the writer tasks that Ray Data runs (``map_batches``).

* :class:`Embed` rebuilds the encoder once from its serialisable config
  (``create_encoder(**config)``), hashes and describes each file with the records code and
  runs imagevec's own decode + batching loop (:func:`imagevec.batching.iter_encoded_batches`
  via ``Encoder.iter_batches``) over its block. A bad file becomes a ``failed`` row naming
  it; the block goes on.
* :func:`write_chroma` writes the embedded rows with the public
  :meth:`imagevec.ImageIndex.upsert_vectors` (batched under the server's max batch size) and
  passes on only small status rows; :func:`write_parquet` writes one Parquet shard per block.

Writes live in their own stage, not in the model actors: a GPU never waits on the network,
and the number of concurrent writes is set for what the store can ingest (one at a time for
a single Chroma server, whose ingest is serial anyway). Writers are stateless tasks, so they
run in Ray's pooled worker processes (no extra process start per job).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.store.record import URI
from imagevec.store.records import new_metadata, sha256_file
from imagevec.store.uris import printable_text, unstorable, uri_from_metadata
from imagevec.types import VectorRecord

STATUS_COLUMNS = ("id", "status", "reason")


def _status(batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {key: np.asarray(batch[key]) for key in STATUS_COLUMNS}


class Embed:
    """Model actor: rows from :func:`~imagevec.scale.plan.plan_rows` -> vectors and records.

    Args:
        config: the encoder's :attr:`~imagevec.Encoder.config` (device set per actor).
        batch_size: images per forward pass.
        threads: torch threads and decode threads.
        on_error: ``skip`` bad files (reported as rows), or ``raise``.
        gps: also store GPS coordinates from EXIF.
        max_pixels: images larger than this fail instead of being decoded.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        batch_size: int,
        threads: int,
        on_error: str = "skip",
        gps: bool = False,
        max_pixels: int | None = None,
    ) -> None:
        import torch

        from imagevec.encoders.factory import create_encoder

        torch.set_num_threads(threads)
        self.encoder = create_encoder(**config)
        self.batch_size, self.threads, self.on_error = batch_size, threads, on_error
        self.gps, self.max_pixels = gps, max_pixels

    def __call__(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        count = len(batch["id"])
        out: dict[str, list[Any]] = {key: [] for key in (*STATUS_COLUMNS, "uri", "metadata")}
        vectors = np.zeros((count, self.encoder.dim), dtype=np.float32)
        todo: list[tuple[int, Path]] = []
        for row in range(count):
            path = Path(os.fsdecode(bytes(batch["path"][row])))
            out["id"].append(str(batch["id"][row]))
            out["uri"].append("")
            out["status"].append("indexed" if bool(batch["new"][row]) else "updated")
            out["reason"].append("")
            out["metadata"].append("")
            try:
                digest = str(batch["digest"][row]) or sha256_file(path)
            except OSError as exc:
                self._fail(out, row, str(exc))
                continue
            meta = new_metadata(path, digest, json.loads(str(batch["fresh"][row])), gps=self.gps)
            reason = unstorable(meta)
            if reason is not None:  # as in the local path: this file fails, not the batch
                self._fail(out, row, reason)
                continue
            out["uri"][row], out["metadata"][row] = meta[URI], json.dumps(meta)
            todo.append((row, path))
        sources = [path for _, path in todo]
        for encoded in self.encoder.iter_batches(
            sources,
            batch_size=self.batch_size,
            on_error=self.on_error,
            num_workers=self.threads,
            max_pixels=self.max_pixels,
        ):
            rows = [todo[i][0] for i in encoded.indices]
            vectors[rows] = encoded.vectors
            for bad in encoded.failures:
                self._fail(out, todo[bad.index][0], bad.reason)
        return {**{k: np.asarray(v) for k, v in out.items()}, "vector": vectors}

    @staticmethod
    def _fail(out: dict[str, list[Any]], row: int, reason: str) -> None:
        out["status"][row], out["reason"][row] = "failed", printable_text(reason)


def _records(batch: Mapping[str, np.ndarray]) -> tuple[list[int], list[Any]]:
    keep = [i for i, status in enumerate(batch["status"]) if status != "failed"]
    metas = [json.loads(batch["metadata"][i]) for i in keep]
    records = [
        VectorRecord(uri_from_metadata(meta), batch["vector"][i], meta)
        for i, meta in zip(keep, metas, strict=True)
    ]
    return keep, records


def write_chroma(
    batch: Mapping[str, np.ndarray], url: str, collection: str, stamp: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Writer task: upsert the embedded rows of ``batch`` into a collection of a Chroma server.

    Uses the public :meth:`imagevec.ImageIndex.upsert_vectors` (checked against ``stamp``,
    batched under the server's max batch size); returns only the small status columns.
    """
    from imagevec.index import ImageIndex

    _, records = _records(batch)
    if records:
        with ImageIndex(url=url, collection=collection) as index:
            index.upsert_vectors(records, stamp=stamp)
    return _status(batch)


def write_parquet(
    batch: Mapping[str, np.ndarray], folder: str, stamp: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Writer task: the embedded rows of ``batch`` as one Parquet shard in ``folder``.

    Columns ``id``, ``uri`` (the metadata's printable one), ``vector`` (fixed-size list of
    float32) and ``metadata`` (the record's metadata as JSON: its fields differ from file to
    file; ``path_b64`` holds a non-UTF-8 path's bytes). The encoder stamp is in each file's
    schema metadata under ``imagevec:stamp``. A shard appears whole (written, then renamed).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    keep, _ = _records(batch)
    if keep:
        vectors = np.ascontiguousarray(batch["vector"][keep], dtype=np.float32)
        table = pa.table(
            {
                "id": pa.array([str(batch["id"][i]) for i in keep], pa.string()),
                "uri": pa.array([str(batch["uri"][i]) for i in keep], pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(
                    pa.array(vectors.reshape(-1)), vectors.shape[1]
                ),
                "metadata": pa.array([str(batch["metadata"][i]) for i in keep], pa.string()),
            }
        ).replace_schema_metadata({"imagevec:stamp": json.dumps(dict(stamp), sort_keys=True)})
        name = f"part-{uuid.uuid4().hex}.parquet"
        pq.write_table(table, Path(folder) / f".{name}.tmp")
        os.replace(Path(folder) / f".{name}.tmp", Path(folder) / name)
    return _status(batch)
