"""Browsing the library without a query: newest first by date taken, filters, facets, folders.

The collection's metadata is read once per collection version (its record count) into a
:class:`Library`: one compact :class:`Photo` per record, sorted newest first by date taken
(EXIF ``taken_ts``, else the file's modification time). A page is then a binary search for
the cursor plus a forward scan, so the tenth thousandth page costs what the first does
(keyset paging; Chroma has no ``ORDER BY``, and ``offset`` paging re-reads everything before
the page). Facets (cameras, lenses, years, formats, folders with counts) are one pass over
the matching photos.

Folders are named relative to the served roots (or, without roots, to the folder all
photos share), so the page never shows the server's absolute paths.

Example:
    >>> library = Library.build(service.index.iter_metadata(), roots=None)   # doctest: +SKIP
    >>> page = library.page(PhotoQuery(camera="x100"), cursor=None, limit=60)  # doctest: +SKIP
    >>> page["items"][0]["taken"], page["next"]                              # doctest: +SKIP
    ('2024-06-01T14:03:22', '1717250602.5b1c...')
"""

from __future__ import annotations

import bisect
import datetime as dt
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagevec.errors import ConfigError
from imagevec.search.filters import parse_when
from imagevec.store.record import CAMERA, FILENAME, FORMAT, HEIGHT, LENS, MTIME_NS, TAKEN_TS, WIDTH
from imagevec.store.uris import uri_from_metadata

__all__ = ["MAX_PAGE", "Library", "Photo", "PhotoQuery"]

MAX_PAGE = 500
_FACET_MAX = 100
_FACET_CACHE = 64


@dataclass(frozen=True, slots=True)
class Photo:
    """What browsing needs of one record (the viewer reads the full record by id)."""

    id: str
    ts: int  # seconds since 1970, camera local time read as UTC (as ``taken_ts``)
    exif_date: bool  # False: ``ts`` is the file's modification time
    filename: str
    folder: str  # absolute
    width: int
    height: int
    camera: str
    lens: str
    format: str

    def to_json(self, relative_folder: str, group: str) -> dict[str, Any]:
        """The grid's item: ``{id, filename, taken, exif_date, width, height, camera, folder,
        group}`` (``group``: the day ``YYYY-MM-DD`` or month ``YYYY-MM`` it is shown under)."""
        taken = dt.datetime.fromtimestamp(self.ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        return {
            "id": self.id,
            "filename": self.filename,
            "taken": taken,
            "exif_date": self.exif_date,
            "width": self.width,
            "height": self.height,
            "camera": self.camera or None,
            "folder": relative_folder,
            "group": taken[:10] if group == "day" else taken[:7],
        }


@dataclass(frozen=True)
class PhotoQuery:
    """Browse filters, all optional and combined (AND).

    Args:
        since / until: dates (``YYYY-MM-DD``; ``until`` takes the whole day) on the date
            taken (EXIF, else file time).
        camera: camera make/model contains this text (any case), as search's ``camera``.
        lens: the lens contains this text (any case), as search's ``lens``.
        folder: a folder as the facets name it (relative), or an absolute path; sub-folders
            are included.
        format: the file format (``JPEG``, ``PNG``, ``HEIF``...), any case.
    """

    since: str | None = None
    until: str | None = None
    camera: str | None = None
    lens: str | None = None
    folder: str | None = None
    format: str | None = None


class Library:
    """The collection's photos newest first, built once per collection version.

    Args:
        photos: every photo (any order).
        base: the folders that relative folder names start from (the served roots).
    """

    def __init__(self, photos: Iterable[Photo], base: Sequence[str]) -> None:
        self.photos = sorted(photos, key=lambda p: (-p.ts, p.id))
        self._keys = [(-p.ts, p.id) for p in self.photos]
        folders = {p.folder for p in self.photos}
        if not base:
            common = os.path.commonpath(list(folders)) if folders else ""
            base = [os.path.dirname(common) if common in folders else common]
        self.base = [b.rstrip(os.sep) or os.sep for b in base]
        self._relative = {f: self.relative(f) for f in folders}
        self._facets: dict[PhotoQuery, dict[str, Any]] = {}  # this version's, by filters

    @classmethod
    def build(
        cls, records: Iterable[tuple[str, dict[str, Any]]], roots: Sequence[Path] | None
    ) -> Library:
        """A library from ``(id, metadata)`` pairs (``ImageIndex.iter_metadata()``)."""
        photos = [_photo(id_, meta) for id_, meta in records]
        return cls(photos, [str(r) for r in roots or ()])

    def __len__(self) -> int:
        return len(self.photos)

    # ------------------------------------------------------------------ folders
    def relative(self, folder: str) -> str:
        """``folder`` named from its base (``"2024/Trip"``); the base itself is its own name."""
        for base in self.base:
            if folder == base or folder.startswith(base.rstrip(os.sep) + os.sep):
                rel = os.path.relpath(folder, base)
                name = os.path.basename(base) or base
                return name if rel == "." else os.path.join(name, rel)
        return folder

    def resolve_folder(self, name: str) -> str:
        """The absolute folder of a relative name from :meth:`facets` (or of an absolute
        path, which is returned normalised).

        Raises:
            ConfigError: no indexed folder has that name.
        """
        if os.path.isabs(name):
            return os.path.normpath(name)
        clean = os.path.normpath(name)
        for absolute, rel in self._relative.items():
            if rel == clean:
                return absolute
        for base in self.base:  # a parent folder that holds no photo itself
            candidate = os.path.join(os.path.dirname(base), clean)
            if clean.split(os.sep)[0] == os.path.basename(base):
                return os.path.normpath(candidate)
        raise ConfigError(f"no indexed folder is named {name!r}")

    # ------------------------------------------------------------------ reads
    def page(
        self, query: PhotoQuery, cursor: str | None = None, limit: int = 60, group: str = "day"
    ) -> dict[str, Any]:
        """``{items, next}``: up to ``limit`` photos after ``cursor`` (None: the newest);
        ``next`` is the cursor of the following page, or None at the end.

        Raises:
            ConfigError: a bad cursor, limit, group or filter.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise ConfigError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        if group not in ("day", "month"):
            raise ConfigError(f"group must be 'day' or 'month', got {group!r}")
        keep = self._matcher(query)
        start = bisect.bisect_right(self._keys, _cursor_key(cursor)) if cursor else 0
        items: list[Photo] = []
        position = start
        for position in range(start, len(self.photos)):
            photo = self.photos[position]
            if keep(photo):
                items.append(photo)
                if len(items) == limit:
                    break
        more = bool(items) and len(items) == limit and position + 1 < len(self.photos)
        last = items[-1] if items else None
        return {
            "items": [p.to_json(self._relative[p.folder], group) for p in items],
            "next": f"{last.ts}.{last.id}" if more and last else None,
        }

    def facets(self, query: PhotoQuery) -> dict[str, Any]:
        """``{total, cameras, lenses, years, formats, folders}``: each a list of
        ``{value, count}`` over the photos matching ``query`` (most first; years newest
        first; folders by name, with ``value`` the relative name and ``cover`` the id of
        its newest photo)."""
        cached = self._facets.get(query)
        if cached is not None:
            return cached
        keep = self._matcher(query)
        tallies: dict[str, Counter[str]] = {
            k: Counter() for k in ("cameras", "lenses", "years", "formats", "folders")
        }
        total = 0
        covers: dict[str, str] = {}  # folder -> its newest photo
        for photo in self.photos:
            if not keep(photo):
                continue
            total += 1
            if photo.camera:
                tallies["cameras"][photo.camera] += 1
            if photo.lens:
                tallies["lenses"][photo.lens] += 1
            if photo.format:
                tallies["formats"][photo.format] += 1
            tallies["years"][str(dt.datetime.fromtimestamp(photo.ts, dt.timezone.utc).year)] += 1
            tallies["folders"][self._relative[photo.folder]] += 1
            covers.setdefault(self._relative[photo.folder], photo.id)
        out: dict[str, Any] = {"total": total}
        for name, tally in tallies.items():
            if name == "years":
                ordered = sorted(tally.items(), reverse=True)
            elif name == "folders":
                ordered = sorted(tally.items())
            else:
                ordered = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))
            out[name] = [{"value": v, "count": c} for v, c in ordered[:_FACET_MAX]]
        for entry in out["folders"]:
            entry["cover"] = covers[entry["value"]]
        if len(self._facets) >= _FACET_CACHE:
            self._facets.pop(next(iter(self._facets)))
        self._facets[query] = out
        return out

    def sample_ids(self, n: int) -> list[str]:
        """Up to ``n`` ids spread evenly over time (a fixed, repeatable sample)."""
        if len(self.photos) <= n:
            return [p.id for p in self.photos]
        step = len(self.photos) / n
        return [self.photos[int(i * step)].id for i in range(n)]

    def _matcher(self, query: PhotoQuery) -> Any:
        low = parse_when(query.since) if query.since else None
        high = parse_when(query.until, end=True) if query.until else None
        camera = (query.camera or "").strip().lower()
        lens = (query.lens or "").strip().lower()
        fmt = (query.format or "").strip().upper()
        root = self.resolve_folder(query.folder) if query.folder else None
        prefix = root.rstrip(os.sep) + os.sep if root else None

        def keep(p: Photo) -> bool:
            return (
                (low is None or p.ts >= low)
                and (high is None or p.ts <= high)
                and (not camera or camera in p.camera.lower())
                and (not lens or lens in p.lens.lower())
                and (not fmt or p.format.upper() == fmt)
                and (root is None or p.folder == root or p.folder.startswith(prefix or ""))
            )

        return keep


def _cursor_key(cursor: str) -> tuple[int, str]:
    ts, _, id_ = cursor.partition(".")
    try:
        return -int(ts), id_
    except ValueError as exc:
        raise ConfigError(f"bad cursor {cursor[:80]!r}") from exc


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _photo(id_: str, meta: dict[str, Any]) -> Photo:
    uri = uri_from_metadata(meta)
    taken = meta.get(TAKEN_TS)
    exif = isinstance(taken, (int, float)) and not isinstance(taken, bool)
    ts = _int(taken) if exif else _int(meta.get(MTIME_NS)) // 1_000_000_000
    return Photo(
        id=id_,
        ts=ts,
        exif_date=exif,
        filename=str(meta.get(FILENAME) or os.path.basename(uri)),
        folder=os.path.dirname(uri),
        width=_int(meta.get(WIDTH)),
        height=_int(meta.get(HEIGHT)),
        camera=str(meta.get(CAMERA) or ""),
        lens=str(meta.get(LENS) or ""),
        format=str(meta.get(FORMAT) or ""),
    )
