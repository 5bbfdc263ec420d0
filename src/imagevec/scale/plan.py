"""The driver's part: list the files and decide which need embedding, with imagevec's records code.

The same functions as the local path (:mod:`imagevec.store.records`) decide: a file whose
record matches by size, mtime and user fields is unchanged (not read); one with a record but
other stat is hashed here, and if its content is the same only its metadata is refreshed.
Everything else becomes a row for the cluster. The workers hash and describe new files
(:func:`~imagevec.store.records.new_metadata`), so the driver never reads their bytes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from imagevec.errors import ImageLoadError
from imagevec.store.chroma import Store
from imagevec.store.failed import FailedFiles
from imagevec.store.record import BYTES, MTIME_NS, SHA256
from imagevec.store.records import (
    Metadatas,
    failure,
    file_uri,
    record_id,
    sha256_file,
    stat_fields,
    touched_metadata,
    unchanged_by_stat,
    user_metadata,
)
from imagevec.types import AddReport

CHUNK = 1000


def plan_rows(
    files: Sequence[tuple[int, Path]],
    store: Store | None,
    metadatas: Metadatas | None,
    report: AddReport,
    on_error: str = "skip",
    memory: FailedFiles | None = None,
) -> Iterator[dict[str, Any]]:
    """Rows to embed, one per new or changed file; unchanged files are counted in ``report``.

    Args:
        files: ``(source number, path)`` from :func:`~imagevec.store.records.walk`.
        store: the target collection (None for a Parquet export: every file is a row).
        metadatas: the user's fields, as for ``ImageIndex.add``.
        report: gets ``unchanged`` and the files that cannot be read.
        on_error: ``raise`` the first unreadable file, else report it.
        memory: files that failed in an earlier run: skipped while unchanged
            (``report.failed_earlier``); None to try them all.

    Yields:
        ``{"position", "path", "id", "uri", "fresh", "digest", "new"}``: ``fresh`` is the JSON of
        the stat and user fields, ``digest`` the sha256 when the driver had to compute it.
    """
    for start in range(0, len(files), CHUNK):
        chunk = files[start : start + CHUNK]
        ids = [record_id(file_uri(path)) for _, path in chunk]
        old = store.get_metadata(ids) if store is not None and store.exists else {}
        touched: list[tuple[str, dict[str, Any]]] = []
        for offset, ((arg, path), id_) in enumerate(zip(chunk, ids, strict=True)):
            previous = old.get(id_)
            try:
                fresh = stat_fields(path, user_metadata(metadatas, arg, path))
                if unchanged_by_stat(previous, fresh):
                    report.unchanged += 1
                    continue
                uri = file_uri(path)
                known = memory and memory.unchanged(uri, fresh[BYTES], fresh[MTIME_NS])
                if known and on_error == "raise":
                    raise ImageLoadError(path, f"{known} (failed earlier, unchanged)")
                if known:
                    report.failed_earlier.append(failure(start + offset, str(path), known))
                    continue
                digest = sha256_file(path) if previous else ""
            except OSError as exc:
                if on_error == "raise":
                    raise ImageLoadError(path, exc.strerror or str(exc)) from exc
                report.failed.append(failure(start + offset, str(path), str(exc)))
                continue
            if previous and previous.get(SHA256) == digest:
                touched.append((id_, touched_metadata(previous, fresh)))
                report.unchanged += 1
                continue
            yield {
                "position": start + offset,
                "path": os.fsencode(path),  # bytes: any file name survives Arrow
                "id": id_,
                "uri": uri,
                "fresh": json.dumps(fresh, sort_keys=True),
                "digest": digest,
                "new": previous is None,
            }
        if touched and store is not None:
            store.update_metadata([t[0] for t in touched], [t[1] for t in touched])
