"""Indexed items as queries: find a record by id or by path and read its stored vector.

"More like this" never re-embeds: the vector written at index time is the query, so the file
may have moved or been deleted since.

Example:
    >>> item = lookup(store, "photos/cat.jpg")                         # doctest: +SKIP
    >>> item.id, item.vector.shape
    ('5b1c...', (1280,))
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imagevec.errors import NotIndexedError
from imagevec.store.chroma import Store
from imagevec.store.records import file_uri, record_id


@dataclass(frozen=True)
class Item:
    """An indexed record: its id, stored vector and metadata."""

    id: str
    vector: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)


def lookup(store: Store, ref: str | os.PathLike[str]) -> Item:
    """The indexed item named by ``ref``: a record id, else a file path (existing or not).

    Raises:
        NotIndexedError: neither an id nor the path of an indexed file.
    """
    candidates = [] if isinstance(ref, os.PathLike) else [str(ref)]
    with contextlib.suppress(UnicodeEncodeError, ValueError):  # no file has such a name
        candidates.append(record_id(file_uri(os.path.expanduser(os.fspath(ref)))))
    found = store.get_vectors(candidates)
    for candidate in candidates:
        if candidate in found:
            vector, metadata = found[candidate]
            return Item(candidate, vector, metadata)
    raise NotIndexedError(os.fspath(ref), store.name)
