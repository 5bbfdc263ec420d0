"""Photo filters — date taken, camera, folder — turned into one Chroma ``where`` filter.

* ``since`` / ``until``: a date (``2024-06-01``, ``until`` includes that whole day) or a
  date and time (``2024-06-01T18:00``), compared with the EXIF date taken (``taken_ts``);
  photos without a date taken are left out by a date filter.
* ``camera``: photos whose camera (make and model) contains this text, any case
  (``"iphone"``, ``"Canon EOS R5"``).
* ``folder``: photos stored under this folder (or in it).

The camera and folder filters read the collection's metadata once to list the matching
cameras and files (Chroma's metadata filters have no substring or prefix operator).

Example:
    >>> photo_filter(store, since="2024-06-01", camera="iphone")        # doctest: +SKIP
    {'$and': [{'taken_ts': {'$gte': 1717200000}}, {'camera': {'$in': ['Apple iPhone 13']}}]}
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
from typing import Any

from imagevec.errors import ConfigError
from imagevec.store.chroma import Store
from imagevec.store.records import file_uri

__all__ = ["MAX_WHERE_DEPTH", "MAX_WHERE_NODES", "check_where", "parse_when", "photo_filter"]

DateLike = str | dt.date | dt.datetime
MAX_WHERE_DEPTH = 32
"""Deepest nesting of a ``where`` filter (objects and lists; a real filter uses < 10)."""
MAX_WHERE_NODES = 10_000
"""Most values (objects, lists, scalars) in a ``where`` filter."""


def check_where(where: Any) -> dict[str, Any] | None:
    """``where`` if it is a plain JSON-like filter of bounded size, else a clear error.

    Walks the filter without recursion, so a filter nested thousands of levels deep (sent
    to the HTTP API or an MCP tool) is refused here, before Chroma or any recursive code
    sees it. Every surface reaches it through :func:`photo_filter`.

    Raises:
        ConfigError: not a dict, deeper than :data:`MAX_WHERE_DEPTH`, more than
            :data:`MAX_WHERE_NODES` values, or holding something that is not JSON.
    """
    if where is None:
        return None
    if not isinstance(where, dict):
        raise ConfigError("where must be a dict (a Chroma metadata filter)")
    stack: list[tuple[Any, int]] = [(where, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_WHERE_NODES:
            raise ConfigError(f"where filter too large: more than {MAX_WHERE_NODES} values")
        if depth > MAX_WHERE_DEPTH:
            raise ConfigError(f"where filter nested too deeply: more than {MAX_WHERE_DEPTH} levels")
        if isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                raise ConfigError("where filter keys must be strings")
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            raise ConfigError(f"where filter holds a {type(value).__name__}, not a JSON value")
    return where


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


def photo_filter(
    store: Store,
    *,
    where: dict[str, Any] | None = None,
    since: DateLike | None = None,
    until: DateLike | None = None,
    camera: str | None = None,
    folder: str | os.PathLike[str] | None = None,
) -> dict[str, Any] | None:
    """``where`` (checked by :func:`check_where`) combined (``$and``) with the photo filters
    given; None when there are none."""
    where = check_where(where)
    clauses: list[dict[str, Any]] = [where] if where else []
    if since is not None:
        clauses.append({"taken_ts": {"$gte": parse_when(since)}})
    if until is not None:
        clauses.append({"taken_ts": {"$lte": parse_when(until, end=True)}})
    if since is not None and until is not None and parse_when(since) > parse_when(until, end=True):
        raise ConfigError(f"since ({since}) is after until ({until})")
    if camera is not None or folder is not None:
        clauses += _scan_clauses(store, camera, folder)
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _scan_clauses(
    store: Store, camera: str | None, folder: str | os.PathLike[str] | None
) -> list[dict[str, Any]]:
    if camera is not None and (not isinstance(camera, str) or not camera.strip()):
        raise ConfigError(f"camera must be a non-empty string, got {camera!r}")
    wanted = camera.strip().lower() if camera else None
    root = file_uri(os.path.expanduser(os.fspath(folder))).rstrip(os.sep) if folder else None
    cameras: set[str] = set()
    uris: list[str] = []
    for _, meta in store.iter_metadata():
        name = meta.get("camera")
        if wanted and isinstance(name, str) and wanted in name.lower():
            cameras.add(name)
        uri = str(meta.get("uri", ""))
        if root and (uri.startswith(root + os.sep) or uri == root):
            uris.append(uri)
    clauses: list[dict[str, Any]] = []
    nothing = "imagevec:no-match"  # no record has it: an empty result, not an error
    if wanted:
        clauses.append({"camera": {"$in": sorted(cameras) or [nothing]}})
    if root:
        clauses.append({"uri": {"$in": uris or [nothing]}})
    return clauses
