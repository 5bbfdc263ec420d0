"""Walking folders for image files: extension test, deterministic order, no symlink loops.

:func:`scan_image_files` is the one walker. It yields each image file as a ``Path`` and each
entry that *looks* like an image (by its name) but cannot be indexed as a :class:`Skipped`
with a reason (a FIFO, a device, a dangling symlink, a symlink loop, an unreadable folder, a
format imagevec cannot decode), so that callers can name every file they did not index.
:func:`iter_image_files` is the same walk, files only.

Example:
    >>> for entry in scan_image_files("photos/"):                    # doctest: +SKIP
    ...     print(entry.path, entry.reason) if isinstance(entry, Skipped) else print(entry)
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from imagevec.errors import ConfigError, ImageLoadError

__all__ = [
    "IMAGE_EXTENSIONS",
    "JUNK_NAMES",
    "RAW_EXTENSIONS",
    "UNSUPPORTED_IMAGE_EXTENSIONS",
    "Skipped",
    "WalkRules",
    "is_image_file",
    "iter_image_files",
    "scan_image_files",
]

_log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".webp", ".bmp", ".dib",
        ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".ico", ".tga", ".avif", ".jp2",
        ".j2k", ".qoi", ".heic", ".heif", ".hif",
        ".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".orf", ".rw2", ".raf", ".srw", ".pef",
    }
)  # fmt: skip
"""Lower-case file extensions :func:`is_image_file` accepts (HEIC/HEIF through pillow-heif,
camera RAW through the ``raw`` extra)."""

RAW_EXTENSIONS = frozenset(
    {".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".orf", ".rw2", ".raf", ".srw", ".pef"}
)
"""Camera RAW formats, decoded with ``rawpy`` (``pip install "imagevec[raw]"``)."""

UNSUPPORTED_IMAGE_EXTENSIONS = frozenset({".jxl", ".svg", ".psd"})
"""Image-like extensions that are not decoded: walking reports them as :class:`Skipped`."""

JUNK_NAMES = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", "@eaDir", "__MACOSX", ".Trashes", ".Trash",
        "$RECYCLE.BIN", "System Volume Information", ".Spotlight-V100", ".fseventsd",
        ".thumbnails", "__pycache__", ".venv",
    }
)  # fmt: skip
"""Folders never walked into (version control, package caches, NAS/OS thumbnails, trash)."""

_SIBLING_PREFERRED = (".jpg", ".jpeg", ".heic", ".heif")


@dataclass(frozen=True)
class WalkRules:
    """What a folder walk leaves out (files named explicitly are always taken).

    Attributes:
        include_hidden: also walk hidden entries (``.name``); :data:`JUNK_NAMES` stay out.
        exclude: glob patterns matched against each entry's name and its path relative to
            the folder given (``"*.png"``, ``"drafts"``, ``"2019/*"``).
        raw_siblings: also take a RAW file whose JPEG/HEIC sibling (same stem, same folder)
            is there; by default the sibling stands for it.
    """

    include_hidden: bool = False
    exclude: tuple[str, ...] = ()
    raw_siblings: bool = False

    def skips(self, name: str, relative: str) -> bool:
        """Whether an entry of a walk is left out by these rules."""
        if name in JUNK_NAMES or (name.startswith(".") and not self.include_hidden):
            return True
        return any(fnmatch(name, p) or fnmatch(relative, p) for p in self.exclude)


@dataclass(frozen=True)
class Skipped:
    """An entry with an image-like name that the walk did not yield, and why.

    Attributes:
        path: the entry as reached by the walk (not resolved).
        reason: what it is, in words (``"not a regular file (FIFO)"``, ``"dangling symlink"``...).
    """

    path: Path
    reason: str


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a known image extension (case-insensitive; the file is not read).

    Example:
        >>> is_image_file("holiday/IMG_0001.JPG"), is_image_file("notes.txt")
        (True, False)
    """
    return _extension(path) in IMAGE_EXTENSIONS


def _extension(path: str | os.PathLike[str]) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


def _looks_like_image(name: str) -> bool:
    ext = _extension(name)
    return ext in IMAGE_EXTENSIONS or ext in UNSUPPORTED_IMAGE_EXTENSIONS


def iter_image_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    recursive: bool = True,
    rules: WalkRules | None = None,
) -> Iterator[Path]:
    """Yield image files from a mix of files and directories, in a deterministic order.

    The files of :func:`scan_image_files` (skipped entries are only logged).

    Raises:
        ImageLoadError: an argument does not exist.

    Example:
        >>> files = list(iter_image_files(["photos/", "extra/cat.png"]))  # doctest: +SKIP
    """
    for entry in scan_image_files(paths, recursive, rules):
        if isinstance(entry, Skipped):
            _log.info("skipped %s: %s", entry.path, entry.reason)
        else:
            yield entry


def scan_image_files(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    recursive: bool = True,
    rules: WalkRules | None = None,
) -> Iterator[Path | Skipped]:
    """Yield image files, and image-like entries that cannot be indexed, in a deterministic order.

    Arguments are taken in the order given; each directory is walked with entries sorted by
    name, keeping regular files with an image extension (:func:`is_image_file`). Files named
    explicitly are yielded whatever their extension. Hidden entries (``.name``), junk folders
    (:data:`JUNK_NAMES`), entries matching ``rules.exclude`` and RAW files whose JPEG/HEIC
    sibling is there are left out silently (see :class:`WalkRules`), directory symlinks are
    followed but a directory is never walked twice (no symlink loops), and a file reached
    twice is yielded once. Nothing is opened: a FIFO is recognised from its ``stat`` and never
    blocks the walk.

    Entries with an image-like name (or named explicitly) that are not regular files, cannot be
    reached (dangling symlink, symlink loop, permission) or have a format imagevec does not
    decode (:data:`UNSUPPORTED_IMAGE_EXTENSIONS`) are yielded as :class:`Skipped`; so are
    unreadable directories.

    Args:
        paths: one path or an iterable of paths.
        recursive: descend into sub-directories.
        rules: what to leave out (default :class:`WalkRules()`).

    Raises:
        ImageLoadError: an argument does not exist.
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    seen_files: set[Path] = set()
    seen_dirs: set[tuple[int, int]] = set()
    for arg in paths:
        path = Path(os.fsdecode(arg)).expanduser()
        kind, info = _classify(path)
        if kind == "dir":
            candidates: Iterable[Path | Skipped] = _walk(
                path, recursive, seen_dirs, rules or WalkRules(), path
            )
        elif kind == "file":
            candidates = (path,)
        elif kind == "missing":
            raise ImageLoadError(path, "no such file or directory")
        else:
            candidates = (Skipped(path, info),)
        for candidate in candidates:
            if isinstance(candidate, Skipped):
                yield candidate
                continue
            key = candidate.resolve()
            if key not in seen_files:
                seen_files.add(key)
                yield candidate


_FILE_TYPES = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)


def _classify(path: Path) -> tuple[str, str]:
    """``("dir" | "file" | "missing" | "skip", reason)`` from ``stat`` (nothing is opened)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return "skip", f"dangling symlink (points to {os.readlink(path)!r}, which is missing)"
        return "missing", "no such file or directory"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "skip", "symlink loop (too many levels of symbolic links)"
        return "skip", f"cannot read: {exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return "dir", ""
    if stat.S_ISREG(info.st_mode):
        if _extension(path) in UNSUPPORTED_IMAGE_EXTENSIONS:
            return "skip", f"unsupported image format {_extension(path)}"
        return "file", ""
    kind = next((name for test, name in _FILE_TYPES if test(info.st_mode)), "special file")
    return "skip", f"not a regular file ({kind})"


def _raw_with_sibling(name: str, names: set[str]) -> bool:
    stem, ext = os.path.splitext(name)
    if ext.lower() not in RAW_EXTENSIONS:
        return False
    return any(stem + e in names or stem + e.upper() in names for e in _SIBLING_PREFERRED)


def _walk(
    directory: Path,
    recursive: bool,
    seen_dirs: set[tuple[int, int]],
    rules: WalkRules,
    root: Path,
) -> Iterator[Path | Skipped]:
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
        yield Skipped(directory, f"unreadable directory: {exc.strerror or exc}")
        return
    names = {entry.name for entry in entries}
    for entry in entries:
        relative = Path(entry.path).relative_to(root).as_posix()
        if rules.skips(entry.name, relative):
            continue
        if not rules.raw_siblings and _raw_with_sibling(entry.name, names):
            _log.debug("skipped %s: its JPEG/HEIC sibling is indexed instead", entry.path)
            continue
        image_like = _looks_like_image(entry.name)
        try:
            if entry.is_file() and not image_like:
                continue  # the common case, answered from the directory listing
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if recursive:
                yield from _walk(Path(entry.path), recursive, seen_dirs, rules, root)
        elif image_like:
            kind, reason = _classify(Path(entry.path))
            if kind == "file":
                yield Path(entry.path)
            elif kind == "dir" and recursive:  # appeared since the listing
                yield from _walk(Path(entry.path), recursive, seen_dirs, rules, root)
            elif kind != "dir":
                yield Skipped(Path(entry.path), reason)


def scan_labelled_folder(root: str | Path) -> tuple[list[Path], list[str]]:
    """Images of ``root/<label>/...`` with their label (the sub-folder name), sorted.

    Raises:
        ConfigError: ``root`` is not a folder or has no sub-folder with images.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder of label sub-folders")
    paths: list[Path] = []
    labels: list[str] = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in iter_image_files(sub):
            paths.append(path)
            labels.append(sub.name)
    if not paths:
        raise ConfigError(f"no labelled images in {folder}: expected {folder}/<label>/<image>")
    return paths, labels
