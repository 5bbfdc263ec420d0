"""Walking folders for image files: extension test, deterministic order, no symlink loops."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from imagevec.errors import ImageLoadError

__all__ = ["IMAGE_EXTENSIONS", "is_image_file", "iter_image_files"]

_log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".webp", ".bmp", ".dib",
        ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".ico", ".tga", ".avif", ".jp2",
        ".j2k", ".qoi",
    }
)  # fmt: skip
"""Lower-case file extensions :func:`is_image_file` accepts."""


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a known image extension (case-insensitive; the file is not read).

    Example:
        >>> is_image_file("holiday/IMG_0001.JPG"), is_image_file("notes.txt")
        (True, False)
    """
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


def iter_image_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], recursive: bool = True
) -> Iterator[Path]:
    """Yield image files from a mix of files and directories, in a deterministic order.

    Arguments are taken in the order given; each directory is walked with entries sorted by
    name, keeping files with an image extension (:func:`is_image_file`). Files named explicitly
    are yielded whatever their extension. Hidden entries (``.name``) inside directories are
    skipped, directory symlinks are followed but a directory is never walked twice (no symlink
    loops), and a file reached twice is yielded once. Unreadable directories are logged and
    skipped.

    Args:
        paths: one path or an iterable of paths.
        recursive: descend into sub-directories.

    Raises:
        ImageLoadError: an argument does not exist.

    Example:
        >>> files = list(iter_image_files(["photos/", "extra/cat.png"]))  # doctest: +SKIP
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    seen_files: set[Path] = set()
    seen_dirs: set[tuple[int, int]] = set()
    for arg in paths:
        path = Path(arg)
        if path.is_dir():
            candidates: Iterable[Path] = _walk(path, recursive, seen_dirs)
        elif path.is_file():
            candidates = (path,)
        else:
            raise ImageLoadError(arg, "no such file or directory")
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen_files:
                seen_files.add(key)
                yield candidate


def _walk(directory: Path, recursive: bool, seen_dirs: set[tuple[int, int]]) -> Iterator[Path]:
    try:
        info = directory.stat()
        key = (info.st_dev, info.st_ino)
        if key in seen_dirs:
            return
        seen_dirs.add(key)
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as exc:
        _log.warning("skipping unreadable directory %s: %s", directory, exc)
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
            is_file = not is_dir and entry.is_file()
        except OSError:
            continue
        if is_dir:
            if recursive:
                yield from _walk(Path(entry.path), recursive, seen_dirs)
        elif is_file and is_image_file(entry.name):
            yield Path(entry.path)
