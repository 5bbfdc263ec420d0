"""Files that failed to index, remembered in the collection so a re-index skips them.

A broken file (truncated JPEG, a text file named ``.jpg``) fails the same way every time;
retrying it on each ``index`` run loads the model just to fail again. So each failure is kept
in the collection's metadata (key :data:`KEY`, JSON ``{uri: [bytes, mtime_ns, reason]}``) and
the file is skipped while its size and mtime stay the same. A changed file is tried again;
``retry_failed=True`` (``imagevec index --retry-failed``) tries them all.

Example:
    >>> memory = FailedFiles.load(store)                               # doctest: +SKIP
    >>> memory.unchanged(uri, size, mtime_ns)                          # doctest: +SKIP
    'cannot identify image file'
"""

from __future__ import annotations

import json
import os
from typing import Any

KEY = "imagevec-failed"
"""Collection metadata key (not ``imagevec:``-prefixed: it is not part of the stamp)."""


class FailedFiles:
    """``uri -> (bytes, mtime_ns, reason)`` for the files that failed, with change tracking."""

    def __init__(self, entries: dict[str, list[Any]] | None = None) -> None:
        self.entries: dict[str, list[Any]] = dict(entries or {})
        self.changed = False

    @classmethod
    def load(cls, store: Any) -> FailedFiles:
        """The memory of ``store``'s collection (empty when it does not exist or holds none)."""
        if not store.exists:
            return cls()
        raw = (store.collection.metadata or {}).get(KEY)
        try:
            entries = json.loads(raw) if raw else {}
        except (TypeError, ValueError):  # damaged: forget it, the files are simply retried
            entries = {}
        return cls(entries if isinstance(entries, dict) else {})

    def unchanged(self, uri: str, size: int, mtime_ns: int) -> str | None:
        """The remembered reason if ``uri`` failed before with this size and mtime, else None."""
        entry = self.entries.get(uri)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == [size, mtime_ns]:
            return str(entry[2])
        return None

    def remember(self, uri: str, size: int, mtime_ns: int, reason: str) -> None:
        """Record a failure of the file at ``uri`` as it is now."""
        self.entries[uri] = [size, mtime_ns, reason]
        self.changed = True

    def forget(self, uri: str) -> None:
        """Drop ``uri`` (it was indexed)."""
        if self.entries.pop(uri, None) is not None:
            self.changed = True

    def save(self, store: Any) -> None:
        """Write the memory back (entries of files that are gone are dropped)."""
        gone = [uri for uri in self.entries if not os.path.lexists(uri)]
        for uri in gone:
            self.forget(uri)
        if not self.changed or not store.exists:
            return
        metadata = {k: v for k, v in (store.collection.metadata or {}).items() if k != KEY}
        if self.entries:
            metadata[KEY] = json.dumps(self.entries, sort_keys=True)
        store.collection.modify(metadata=metadata)
        self.changed = False
