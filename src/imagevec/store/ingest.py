"""Adding image files to a :class:`~imagevec.store.chroma.Store`: skip what is unchanged, embed the
rest in streamed batches, write each batch as soon as it is embedded.

Record ids come from the file's absolute path, the content hash is in the metadata
(:mod:`imagevec.store.records`). So:

* re-indexing is idempotent: a file whose size and mtime match its record is not even read;
  one that was touched but not changed is hashed, found equal and not decoded;
* a changed file keeps its id and gets a new vector (``updated``);
* identical files in two places are two records (both findable, both prunable), but the
  content is embedded once: a vector already stored for the same ``sha256`` is reused;
* a crash loses nothing already written: each encoder batch is upserted at once, vector and
  metadata together, and the next run skips what is there.

Example:
    >>> report = add_files(store, encoder, ["photos/"])               # doctest: +SKIP
    >>> print(report.summary())                                         # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.errors import ConfigError, ImageLoadError, ImageTooLargeError
from imagevec.io.files import WalkRules
from imagevec.io.policy import DEFAULT_POLICY
from imagevec.store.chroma import Store
from imagevec.store.failed import FailedFiles
from imagevec.store.record import BYTES, MTIME_NS, SHA256, URI, WARNING
from imagevec.store.records import (
    Metadatas,
    failure,
    file_uri,
    new_metadata,
    record_id,
    sha256_file,
    stat_fields,
    touched_metadata,
    unchanged_by_stat,
    user_metadata,
    walk,
)
from imagevec.store.uris import unstorable
from imagevec.types import AddOptions, AddReport

_log = logging.getLogger(__name__)
_CHUNK = 256


@dataclass
class _Item:
    position: int
    path: Path
    id: str
    meta: dict[str, Any]
    new: bool


class _Run:
    """One ``add`` call's state: the plan, the stream into the encoder, the writes."""

    def __init__(
        self,
        store: Store,
        encoder: Any,
        report: AddReport,
        bar: Any,
        on_error: str,
        memory: FailedFiles,
        *,
        skip_known: bool = True,
        prepare: Callable[[], object] | None = None,
        max_bytes: int = DEFAULT_POLICY.max_bytes,
        gps: bool = False,
    ) -> None:
        self.store, self.encoder, self.report, self.bar = store, encoder, report, bar
        self.gps = gps
        self.on_error = on_error
        self.memory, self.skip_known = memory, skip_known
        self.prepare = prepare
        self.max_bytes = max_bytes
        self.pending: dict[int, _Item] = {}
        self.hashes_in_run: set[str] = set()
        self.deferred: list[tuple[int, Path]] = []

    def _fail(
        self, position: int, path: Path, reason: str, cause: BaseException | None = None
    ) -> None:
        """A file that fails before embedding: raised or reported, as ``on_error`` says."""
        if self.on_error == "raise":
            raise ImageLoadError(path, reason) from cause
        self.report.failed.append(failure(position, str(path), reason))
        self.bar.update(1)

    def _done(self, item: _Item, reason: str | None = None) -> None:
        uri, meta = item.meta[URI], item.meta
        if reason is not None:
            self.report.failed.append(failure(item.position, str(item.path), reason))
            self.memory.remember(uri, meta[BYTES], meta[MTIME_NS], reason)
            self.bar.update(1)
            return
        self.memory.forget(uri)
        if item.new:
            self.report.indexed += 1
        else:
            self.report.updated += 1
        self.bar.update(1)

    def plan(self, files: list[tuple[int, Path]], metadatas: Metadatas | None) -> Iterator[_Item]:
        """Yield the items that need embedding; settle the others on the way."""
        for start in range(0, len(files), _CHUNK):
            chunk = files[start : start + _CHUNK]
            ids = [record_id(file_uri(path)) for _, path in chunk]
            old = self.store.get_metadata(ids) if self.store.exists else {}
            touched: list[tuple[str, dict[str, Any]]] = []
            todo: list[_Item] = []
            for offset, ((arg, path), id_) in enumerate(zip(chunk, ids, strict=True)):
                position = start + offset
                try:
                    user = user_metadata(metadatas, arg, path)
                    previous = old.get(id_)
                    fresh = stat_fields(path, user)
                    if unchanged_by_stat(previous, fresh):
                        self.report.unchanged += 1
                        self.bar.update(1)
                        continue
                    known = self.skip_known and self.memory.unchanged(
                        file_uri(path), fresh[BYTES], fresh[MTIME_NS]
                    )
                    if known and self.on_error == "raise":
                        raise ImageLoadError(path, f"{known} (failed earlier, unchanged)")
                    if known:
                        self.report.failed_earlier.append(failure(position, str(path), known))
                        self.bar.update(1)
                        continue
                    if fresh[BYTES] > self.max_bytes:  # refused before a byte is read
                        reason = (
                            f"file has {fresh[BYTES]} bytes, over the {self.max_bytes}-byte "
                            "limit (max_bytes)"
                        )
                        if self.on_error == "raise":
                            raise ImageTooLargeError(path, reason)
                        self._fail(position, path, reason)
                        continue
                    digest = sha256_file(path)
                except OSError as exc:
                    self._fail(position, path, exc.strerror or str(exc), exc)
                    continue
                if previous and previous.get(SHA256) == digest:
                    touched.append((id_, touched_metadata(previous, fresh)))
                    self.report.unchanged += 1
                    self.bar.update(1)
                    continue
                if digest in self.hashes_in_run:  # same content earlier in this run
                    self.deferred.append((arg, path))
                    continue
                self.hashes_in_run.add(digest)
                meta = new_metadata(path, digest, fresh, gps=self.gps)
                reason = unstorable(meta)  # type: ignore[assignment]
                if reason is not None:
                    self._fail(position, path, reason)
                    continue
                todo.append(_Item(position, path, id_, meta, previous is None))
            if touched:
                self._ready()
                self.store.update_metadata([t[0] for t in touched], [t[1] for t in touched])
            hashes = [item.meta[SHA256] for item in todo]
            reuse = self.store.find_by_hash(hashes) if hashes and self.store.exists else {}
            copies = [item for item in todo if item.meta[SHA256] in reuse]
            if copies:
                vectors = np.stack([reuse[item.meta[SHA256]] for item in copies])
                self._write(copies, vectors)
            yield from (item for item in todo if item.meta[SHA256] not in reuse)

    def _ready(self) -> None:
        """Create the collection (``prepare``) before the first write of the call."""
        if self.prepare is not None:
            prepare, self.prepare = self.prepare, None
            prepare()

    def _write(self, items: list[_Item], vectors: np.ndarray) -> None:
        self._ready()
        try:
            self.store.upsert([i.id for i in items], vectors, [i.meta for i in items])
        except (TypeError, ValueError):  # a record Chroma refuses must not lose the batch
            if len(items) == 1:
                raise
            for row, item in enumerate(items):
                try:
                    self._write([item], vectors[row : row + 1])
                except (TypeError, ValueError) as exc:
                    if self.on_error == "raise":
                        raise ImageLoadError(item.path, f"cannot be stored: {exc}") from exc
                    self._done(item, f"cannot be stored: {exc}")
            return
        for item in items:
            self._done(item)
        _log.info("wrote %d records (%d done)", len(items), self.bar.n)

    def _load_encoder(self) -> Any:
        """The encoder; a loader is called under a "loading model" label, and the bar's clock
        restarts after it, so its rate and ETA count embedding only."""
        if not callable(self.encoder):
            return self.encoder
        desc = getattr(self.bar, "desc", "indexing")
        self.bar.set_description_str("loading model", refresh=True)
        encoder = self.encoder()
        now = time.time()
        for clock in ("start_t", "last_print_t"):
            if hasattr(self.bar, clock):
                setattr(self.bar, clock, now)
        self.bar.last_print_n = self.bar.n
        self.bar.set_description_str(desc.rstrip(": ") or "indexing", refresh=True)
        return encoder

    def run(self, items: Iterator[_Item], batch_size: int, **load: Any) -> None:
        """Embed the planned items batch by batch, writing each batch at once."""

        first = next(items, None)
        if first is None:  # nothing to embed: the encoder is not even loaded
            return

        def sources() -> Iterator[Path]:
            for number, item in enumerate(itertools.chain([first], items)):
                self.pending[number] = item
                yield item.path

        encoder = self._load_encoder()
        for batch in encoder.iter_batches(
            sources(), batch_size=batch_size, on_error=self.on_error, **load
        ):
            for note in batch.warnings:  # kept despite a problem: say so in the record
                item = self.pending[note.index]
                item.meta[WARNING] = note.reason
                self.report.warnings.append(failure(item.position, str(item.path), note.reason))
            if batch.indices:
                self._write([self.pending.pop(i) for i in batch.indices], batch.vectors)
                self.report.embedded += len(batch.indices)
            for bad in batch.failures:
                self._done(self.pending.pop(bad.index), bad.reason)


def source_paths(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> list[str]:
    """``add``'s sources as paths, ``~`` expanded (a single path is fine).

    Raises:
        ConfigError: a source that is not a path.
    """
    paths = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not all(isinstance(source, (str, os.PathLike)) for source in paths):
        raise ConfigError("add() takes file and folder paths (records are stored by path)")
    return [os.path.expanduser(os.fspath(path)) for path in paths]


def walk_rules(options: AddOptions) -> WalkRules:
    """What the folder walk of ``options`` leaves out."""
    return WalkRules(
        include_hidden=options.include_hidden,
        exclude=options.exclude,
        raw_siblings=options.raw_siblings,
    )


class _Reporting:
    """A progress bar that also tells a function ``(done, total)`` (at most ~100 times)."""

    def __init__(self, bar: Any, report: Callable[[int, int], object]) -> None:
        self.bar, self.report, self.n, self._told = bar, report, 0, -1

    def update(self, count: int = 1) -> None:
        self.bar.update(count)
        self.n += count
        total = max(1, int(self.bar.total or 0))
        if self.n * 100 // total != self._told or self.n == total:
            self._told = self.n * 100 // total
            self.report(self.n, total)


def add_files(
    store: Store,
    encoder: Any,
    sources: Sequence[str | os.PathLike[str]],
    options: AddOptions | None = None,
    *,
    metadatas: Metadatas | None = None,
    progress: bool | Callable[[int, int], object] = False,
    prepare: Callable[[], object] | None = None,
    **load_options: Any,
) -> AddReport:
    """Index image files and folders into ``store`` (see the module doc).

    Args:
        store: the target collection.
        encoder: the collection's encoder, or a function returning it (called only when
            some file needs embedding, so that re-indexing an unchanged folder loads no model).
        sources: files and folders (walked in a deterministic order).
        options: how to walk and index (:class:`~imagevec.types.AddOptions`: recursion,
            hidden and junk rules, ``retry_failed``, ``exif_gps``, ``max_megapixels``,
            ``on_error``, ``batch_size``); ``prune`` is the caller's (it needs the index).
        metadatas: your fields: one dict for all files, one per source, or ``f(path) -> dict``.
        progress: show a progress bar; or a function called with ``(done, total)`` as
            files are done (a server reporting to its client).
        prepare: called once before the first write (creates the collection), so that a run
            that writes nothing creates nothing.
        **load_options: passed to the loader (``policy``, ``num_workers``).
    """
    options = options or AddOptions()
    on_error = options.on_error
    if options.max_pixels is not None:
        load_options["max_pixels"] = options.max_pixels
    started = time.perf_counter()
    report = AddReport()
    files, report.failed = walk(sources, options.recursive, on_error, walk_rules(options))
    if isinstance(metadatas, Sequence) and len(metadatas) != len(sources):
        raise ConfigError(f"got {len(metadatas)} metadatas for {len(sources)} sources")
    memory = FailedFiles.load(store)
    policy = load_options.get("policy") or DEFAULT_POLICY
    from tqdm.auto import tqdm  # imported on use: ~0.1 s of a cold search

    shown = progress is True
    with tqdm(total=len(files), unit="img", desc="indexing", disable=not shown) as shown_bar:
        bar = shown_bar if not callable(progress) else _Reporting(shown_bar, progress)
        while files:
            state = _Run(
                store, encoder, report, bar, on_error, memory,
                skip_known=not options.retry_failed, prepare=prepare, max_bytes=policy.max_bytes,
                gps=options.exif_gps,
            )  # fmt: skip
            state.run(state.plan(files, metadatas), options.batch_size, **load_options)
            files = state.deferred  # duplicates of content embedded in this pass: now reused
            prepare = state.prepare  # None once called
    if store.exists:
        store.fill_documents()  # records written before documents were stored: once
        memory.save(store)
    report.seconds = time.perf_counter() - started
    return report
