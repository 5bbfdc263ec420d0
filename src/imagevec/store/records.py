"""What a file's record is: its URI, its id, its metadata; and finding records by path.

* **URI**: the file's absolute, normalised path (``os.path.abspath``; symlinks are kept as
  given). Hits return it as ``hit.uri``; every loader takes it back.
* **id**: ``sha256(uri)[:32]`` — stable for a path, so re-indexing updates in place.
* **metadata**: ``uri``, ``filename``, ``sha256`` (of the bytes), ``bytes``, ``mtime_ns``,
  ``width``/``height`` (after EXIF rotation), ``format``, plus the user's own scalar fields.
  A path that is not valid UTF-8 is stored losslessly (:mod:`imagevec.store.uris`); a picture
  indexed despite a problem (a truncated JPEG) has a ``warning``.
* **change detection**: a record whose ``bytes``, ``mtime_ns`` and user fields match the file
  is unchanged (:func:`unchanged_by_stat`, the file is not read); one whose ``sha256`` matches
  was only touched (:func:`touched_metadata`); anything else is embedded
  (:func:`new_metadata`). The local path (:mod:`imagevec.store.ingest`) and the Ray pipeline
  (:mod:`imagevec.scale`) both decide with these functions.

Example:
    >>> record_id(file_uri("photos/cat.jpg"))                          # doctest: +SKIP
    '5b1c...'
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imagevec.errors import ConfigError, ImageLoadError
from imagevec.io.files import Skipped, WalkRules, scan_image_files
from imagevec.store.chroma import Store
from imagevec.store.record import BYTES, FORMAT, HEIGHT, MTIME_NS, RESERVED, SHA256, WIDTH
from imagevec.store.uris import stored_path_fields, uri_from_metadata
from imagevec.types import Failure, VectorRecord

Metadatas = Mapping[str, Any] | Sequence[Mapping[str, Any]] | Callable[[Path], Mapping[str, Any]]


def failure(position: int, source: str, reason: str) -> Failure:
    """A :class:`~imagevec.Failure` for input number ``position``."""
    return Failure(position, source, reason)


def file_uri(path: str | os.PathLike[str]) -> str:
    """The URI a file is stored under: its absolute, normalised path."""
    return os.path.abspath(os.fspath(path))


def record_id(uri: str) -> str:
    """The record id of a file URI."""
    return hashlib.sha256(uri.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def header_metadata(path: Path, *, gps: bool = False) -> dict[str, Any]:
    """Width, height (after EXIF rotation), format and the EXIF fields people filter by
    (:func:`~imagevec.io.exif.photo_fields`; coordinates only with ``gps``), from the header;
    {} if unreadable."""
    from PIL import Image

    from imagevec.io.decode import exif_orientation
    from imagevec.io.exif import photo_fields
    from imagevec.io.formats import ensure_plugins

    ensure_plugins()
    try:
        with Image.open(path) as img:
            width, height = img.size
            fields = photo_fields(img, gps=gps)
            if exif_orientation(img) in (5, 6, 7, 8):
                width, height = height, width
            return {WIDTH: width, HEIGHT: height, FORMAT: img.format or "", **fields}
    except Exception:  # the loader reports the real reason when it fails
        return {}


def stat_fields(path: Path, user: Mapping[str, Any]) -> dict[str, Any]:
    """The fields change detection compares: ``bytes``, ``mtime_ns`` and the user's fields.

    Raises:
        OSError: the file cannot be stat'ed.
    """
    stat = path.stat()
    return {BYTES: stat.st_size, MTIME_NS: stat.st_mtime_ns, **user}


def unchanged_by_stat(previous: Mapping[str, Any] | None, fresh: Mapping[str, Any]) -> bool:
    """Whether a stored record still matches the file without reading it (size, mtime, fields)."""
    return bool(previous) and all(previous.get(k) == v for k, v in fresh.items())  # type: ignore[union-attr]


def touched_metadata(previous: Mapping[str, Any], fresh: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata of a record whose file was touched but whose content is the same."""
    return {**previous, **fresh}


def new_metadata(
    path: Path, digest: str, fresh: Mapping[str, Any], *, gps: bool = False
) -> dict[str, Any]:
    """The full metadata of a file to (re-)embed: URI, name, hash, stat and user fields,
    header and EXIF (coordinates only with ``gps``)."""
    meta = {**stored_path_fields(file_uri(path)), SHA256: digest, **fresh}
    meta.update(header_metadata(path, gps=gps))
    return meta


def file_record(
    path: str | os.PathLike[str], vector: Any, user: Mapping[str, Any] | None = None
) -> VectorRecord:
    """The record ``ImageIndex.add`` would write for ``path``, with a vector computed elsewhere.

    Example:
        >>> record = file_record("photos/cat.jpg", vector, {"album": "2024"})  # doctest: +SKIP
        >>> index.upsert_vectors([record])                                    # doctest: +SKIP

    Raises:
        ConfigError: ``user`` uses a reserved key.
        OSError: the file cannot be read.
    """
    path = Path(path)
    user = dict(user or {})
    check_user_fields(user)
    meta = new_metadata(path, sha256_file(path), stat_fields(path, user))
    return VectorRecord(file_uri(path), np.asarray(vector, dtype=np.float32), meta)


def check_user_fields(user: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` if the user's fields use a key imagevec reserves."""
    clash = RESERVED & set(user)
    if clash:
        raise ConfigError(f"metadata keys {sorted(clash)} are reserved by imagevec")


def user_metadata(metadatas: Metadatas | None, arg: int, path: Path) -> dict[str, Any]:
    """The user's fields for a file found under source number ``arg``."""
    if metadatas is None:
        return {}
    if callable(metadatas):
        user = dict(metadatas(path))
    elif isinstance(metadatas, Mapping):
        user = dict(metadatas)
    else:
        user = dict(metadatas[arg])
    check_user_fields(user)
    return user


def walk(
    sources: Sequence[str | os.PathLike[str]],
    recursive: bool,
    on_error: str,
    rules: WalkRules | None = None,
) -> tuple[list[tuple[int, Path]], list[Failure]]:
    """``(source number, file)`` for every image file under ``sources`` (each once), and a
    failure for each source that does not exist and for each image-like entry that cannot be
    indexed (FIFO, dangling symlink, unsupported format...: see
    :func:`~imagevec.io.files.scan_image_files`). With ``on_error="raise"`` the first of these
    is raised as :class:`~imagevec.errors.ImageLoadError`."""
    files: list[tuple[int, Path]] = []
    failures: list[Failure] = []
    seen: set[str] = set()
    for arg, source in enumerate(sources):
        try:
            found = list(scan_image_files(source, recursive=recursive, rules=rules))
        except ImageLoadError as exc:
            if on_error == "raise":
                raise
            failures.append(failure(-1, exc.source, exc.reason))
            continue
        for entry in found:
            if isinstance(entry, Skipped):
                if on_error == "raise":
                    raise ImageLoadError(entry.path, entry.reason)
                failures.append(failure(-1, str(entry.path), entry.reason))
                continue
            uri = file_uri(entry)
            if uri not in seen:
                seen.add(uri)
                files.append((arg, entry))
    return files, failures


def _under(uri: str, roots: tuple[str, ...]) -> bool:
    return any(uri == root or uri.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def ids_for_paths(store: Store, paths: Iterable[str | os.PathLike[str]]) -> set[str]:
    """Ids of the records of these files, or of every file under these folders."""
    roots = tuple(file_uri(path) for path in paths)
    if not roots:
        return set()
    found = {record_id(root) for root in roots}
    found.update(i for i, meta in store.iter_metadata() if _under(uri_from_metadata(meta), roots))
    return found


def ids_of_missing_files(store: Store, paths: Iterable[str | os.PathLike[str]] | None) -> set[str]:
    """Ids of records whose file no longer exists (under ``paths`` only, when given)."""
    return set(missing_files(store, paths))


def missing_files(store: Store, paths: Iterable[str | os.PathLike[str]] | None) -> dict[str, str]:
    """``id -> path`` of the records whose file no longer exists (under ``paths``, if given)."""
    roots = None if paths is None else tuple(file_uri(path) for path in paths)
    found = {}
    for id_, meta in store.iter_metadata():
        uri = uri_from_metadata(meta)
        if (roots is None or _under(uri, roots)) and not os.path.exists(uri):
            found[id_] = uri
    return found
