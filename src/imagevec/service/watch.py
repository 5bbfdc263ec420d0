"""Background indexing for a served index: one process owns the store, queries keep working.

:class:`FolderWatcher` re-runs :meth:`ImageIndex.add` on its folders (``prune=True``) every
few seconds in a daemon thread. Unchanged files cost a ``stat`` each; new or changed ones are
embedded in batches and each batch is written at once, so new photos show up in searches
batch by batch while the thread works. Polling (no inotify) keeps it portable and dependency
free; it also catches files copied in while the server was down.

Example:
    >>> watcher = FolderWatcher(index, ["~/Photos"], interval=10)       # doctest: +SKIP
    >>> watcher.start(); watcher.status()["runs"]                        # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagevec.errors import ImagevecError
from imagevec.store import integrity

if TYPE_CHECKING:
    from imagevec.index import ImageIndex

__all__ = ["FolderWatcher", "writing"]

_log = logging.getLogger(__name__)
_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_locks_lock = threading.Lock()


@contextmanager
def writing(index: ImageIndex) -> Iterator[None]:
    """One write session at a time on a served index (the watcher's passes, the adds sent
    by other processes); when it ends, the store is marked clean, so that a kill -9 of the
    server while it is idle leaves nothing to settle at the next open."""
    with _locks_lock:
        lock = _locks.setdefault(index, threading.Lock())
    with lock:
        try:
            yield
        finally:
            path = index.path
            if path is not None and integrity.written_here(path):
                integrity.mark_clean(path)
                store = getattr(index, "_store", None)
                if store is not None:
                    store.dirty = False  # the next write removes the mark again


class FolderWatcher:
    """Keeps ``folders`` indexed: a pass now, then one every ``interval`` seconds.

    Args:
        index: the served index (this thread becomes its writer).
        folders: folders to index (recursively), pruning records of deleted files.
        interval: seconds between the end of a pass and the start of the next.
        batch_size: images per forward pass (smaller = new photos visible sooner).
    """

    def __init__(
        self,
        index: ImageIndex,
        folders: Sequence[str | os.PathLike[str]],
        *,
        interval: float = 10.0,
        batch_size: int = 16,
    ) -> None:
        self.index = index
        self.folders = [Path(f).expanduser() for f in folders]
        self.interval = interval
        self.batch_size = batch_size
        self.runs = 0
        self.busy = False
        self.last: dict[str, Any] | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="imagevec-watch", daemon=True)

    def start(self) -> None:
        """Start the background thread."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop after the current pass, and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def run_once(self) -> None:
        """One indexing pass (what the thread does every ``interval``)."""
        self.busy = True
        try:
            with writing(self.index):
                report = self.index.add(self.folders, batch_size=self.batch_size, prune=True)
            self.last = {**report.to_dict(), "finished": time.time()}
            self.error = None
            if report.indexed or report.updated or report.pruned:
                _log.info("watch: %s", report.summary())
        except ImagevecError as exc:  # e.g. locked by another process: retry next time
            self.error = str(exc)
            _log.warning("watch: %s", exc)
        finally:
            self.runs += 1
            self.busy = False

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)

    def status(self) -> dict[str, Any]:
        """``{folders, busy, runs, last, error}`` (JSON-ready)."""
        return {
            "folders": [str(f) for f in self.folders],
            "busy": self.busy,
            "runs": self.runs,
            "last": self.last,
            "error": self.error,
        }
