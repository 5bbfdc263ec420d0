"""What each :class:`~imagevec.types.PhotoFilter` means to the store: one Chroma ``where``.

* ``since`` / ``until``: a date (``2024-06-01``, ``until`` includes that whole day) or a
  date and time (``2024-06-01T18:00``), compared with the EXIF date taken (``taken_ts``);
  photos without a date taken are left out by a date filter.
* ``camera``, ``lens``: photos whose camera (make and model) or lens contains this text,
  any case (``"iphone"``, ``"Canon EOS R5"``, ``"24-105"``).
* ``folder``: photos stored under this folder (or in it).
* ``orientation``: ``landscape`` (wider than high), ``portrait`` or ``square`` photos, from
  the stored width and height (as displayed).

The text and folder filters read the collection's metadata once to list the matching values
and files (Chroma's metadata filters have no substring or prefix operator). A new filter is
a :class:`~imagevec.types.PhotoFilter` field and one entry of :data:`CONTAINS` (a text
field matched by substring) or one clause in :func:`photo_filter`.

Example:
    >>> photo_filter(store, PhotoFilter(since="2024-06-01", camera="iphone"))  # doctest: +SKIP
    {'$and': [{'taken_ts': {'$gte': 1717200000}}, {'camera': {'$in': ['Apple iPhone 13']}}]}
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

from imagevec.errors import ConfigError
from imagevec.store.chroma import Store
from imagevec.store.record import CAMERA, HEIGHT, LENS, TAKEN_TS, URI, WIDTH, read
from imagevec.store.records import file_uri
from imagevec.types import MAX_WHERE_DEPTH, MAX_WHERE_NODES, PhotoFilter, check_where

__all__ = ["MAX_WHERE_DEPTH", "MAX_WHERE_NODES", "check_where", "parse_when", "photo_filter"]

DateLike = str | dt.date | dt.datetime


def parse_when(value: DateLike, *, end: bool = False) -> int:
    """Seconds since 1970 (camera local time read as UTC, as ``taken_ts``) for a date or
    date-time; with ``end``, a bare date means the end of that day.

    Example:
        >>> parse_when("2024-06-01"), parse_when("2024-06-01", end=True)
        (1717200000, 1717286399)

    Raises:
        ConfigError: not an ISO date (``YYYY-MM-DD``) or date-time.
    """
    if isinstance(value, dt.datetime):
        moment, whole_day = value, False
    elif isinstance(value, dt.date):
        moment, whole_day = dt.datetime(value.year, value.month, value.day), True
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError as exc:
            raise ConfigError(
                f"bad date {value!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]"
            ) from exc
        whole_day = len(text) <= 10
    else:
        raise ConfigError(f"a date must be a string, date or datetime, got {value!r}")
    stamp = calendar.timegm(moment.replace(tzinfo=None).timetuple())
    return stamp + 86_399 if end and whole_day else stamp


#: Filters that keep photos whose stored text field contains the filter's text, any case:
#: ``PhotoFilter`` field -> record field.
CONTAINS: dict[str, str] = {"camera": CAMERA, "lens": LENS}


def photo_filter(store: Store, photos: PhotoFilter | None) -> dict[str, Any] | None:
    """The filters of ``photos`` as one Chroma ``where`` (``$and``); None when there are none.

    Raises:
        ConfigError: a bad date, ``since`` after ``until``, an empty text filter.
    """
    if not photos:
        return None
    clauses: list[dict[str, Any]] = [photos.where] if photos.where else []
    since, until = photos.since, photos.until
    if since is not None:
        clauses.append({TAKEN_TS: {"$gte": parse_when(since)}})
    if until is not None:
        clauses.append({TAKEN_TS: {"$lte": parse_when(until, end=True)}})
    if since is not None and until is not None and parse_when(since) > parse_when(until, end=True):
        raise ConfigError(f"since ({since}) is after until ({until})")
    texts = {
        key: text.strip().lower()
        for name, key in CONTAINS.items()
        if (text := getattr(photos, name)) is not None
    }
    if texts or photos.folder is not None or photos.orientation is not None:
        clauses += _scan_clauses(store, texts, photos.folder, photos.orientation)
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def shape(meta: Mapping[str, Any]) -> str | None:
    """``landscape``, ``portrait`` or ``square`` from a record's width and height; None
    when they are not stored."""
    width, height = read(WIDTH, meta), read(HEIGHT, meta)
    if not width or not height:
        return None
    return "landscape" if width > height else "portrait" if height > width else "square"


def _scan_clauses(
    store: Store,
    texts: dict[str, str],
    folder: str | os.PathLike[str] | None,
    orientation: str | None = None,
) -> list[dict[str, Any]]:
    for key, wanted in texts.items():
        if not wanted:
            raise ConfigError(f"the {key} filter needs a non-empty text")
    root = file_uri(os.path.expanduser(os.fspath(folder))).rstrip(os.sep) if folder else None
    found: dict[str, set[str]] = {key: set() for key in texts}
    uris: list[str] = []
    shaped: list[str] = []
    for _, meta in store.iter_metadata():
        for key, wanted in texts.items():
            value = meta.get(key)
            if isinstance(value, str) and wanted in value.lower():
                found[key].add(value)
        uri = str(meta.get(URI, ""))
        if root and (uri.startswith(root + os.sep) or uri == root):
            uris.append(uri)
        if orientation and shape(meta) == orientation:
            shaped.append(uri)
    nothing = "imagevec:no-match"  # no record has it: an empty result, not an error
    clauses: list[dict[str, Any]] = [
        {key: {"$in": sorted(values) or [nothing]}} for key, values in found.items()
    ]
    if root:
        clauses.append({URI: {"$in": uris or [nothing]}})
    if orientation:
        clauses.append({URI: {"$in": shaped or [nothing]}})
    return clauses
