"""Turn any accepted image input into something decodable, safely.

:func:`read_source` is the single entry point: it returns the encoded file as ``bytes`` for
paths, ``file://`` URIs, bytes-likes, binary file objects, base64 strings, ``data:`` URIs and
(when the policy allows) ``http(s)`` URLs, and passes PIL images and numpy arrays through
untouched. Decoding them is :mod:`imagevec.io.decode`' job.

A string is classified without guessing: ``data:`` is a data URI, ``http(s)://`` is a URL,
``file://`` is a path, an existing file is a path, a long base64 string that decodes to an image
signature is base64; anything else is an error ("no such file"), never a file that gets opened.

Example:
    >>> from imagevec.io.sources import SourcePolicy, read_source
    >>> data = read_source("photos/cat.jpg")  # doctest: +SKIP
    >>> policy = SourcePolicy(allow_urls=True)
    >>> data = read_source("https://example.com/cat.jpg", policy)  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from pathlib import Path
from typing import IO, Any, Union
from urllib.parse import unquote_to_bytes, urlsplit
from urllib.request import url2pathname

import numpy as np
from PIL import Image

from imagevec.errors import ImageLoadError, ImageTooLargeError, UnsafeSourceError
from imagevec.io.policy import DEFAULT_POLICY, SourcePolicy

__all__ = ["DEFAULT_POLICY", "ImageSource", "SourcePolicy", "read_source"]

ImageSource = Union[  # noqa: UP007 - a runtime alias usable on Python 3.10
    str, os.PathLike, bytes, bytearray, memoryview, IO[bytes], Image.Image, np.ndarray
]
"""Everything :func:`read_source` (and so every ``encode``/``add``/``search``) accepts."""

_MAX_PATH_LEN = 4096
_MIN_BASE64_LEN = 24
_BASE64_RE = re.compile(r"[A-Za-z0-9+/\s]+={0,2}\s*")
_BASE64_URLSAFE_RE = re.compile(r"[A-Za-z0-9_\-\s]+={0,2}\s*")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_DATA_MIME_OK = ("image/", "application/octet-stream")

# Leading bytes of the formats Pillow decodes; used only to recognise base64-encoded images.
_MAGIC: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"BM"),
    (8, b"WEBP"),
    (0, b"II*\x00"),  # TIFF little-endian
    (0, b"MM\x00*"),  # TIFF big-endian
    (0, b"\x00\x00\x01\x00"),  # ICO
    (4, b"ftyp"),  # AVIF / HEIF
    (0, b"\x00\x00\x00\x0cjP  "),  # JPEG 2000
    (0, b"\xff\x4f\xff\x51"),  # JPEG 2000 codestream
    (0, b"qoif"),
    (0, b"8BPS"),  # PSD
)


def read_source(
    source: Any, policy: SourcePolicy | None = None
) -> bytes | Image.Image | np.ndarray:
    """Read an image input into encoded ``bytes``, or pass a PIL image / numpy array through.

    Args:
        source: a path (``str`` or ``os.PathLike``), ``file://`` URI, ``bytes``/``bytearray``/
            ``memoryview``, binary file object, base64 string, ``data:`` URI, ``http(s)`` URL
            (with ``allow_urls``), ``PIL.Image.Image`` or ``numpy.ndarray``.
        policy: limits and permissions; :data:`DEFAULT_POLICY` when ``None``.

    Returns:
        The encoded file as non-empty ``bytes``; PIL images and arrays are returned as given.

    Raises:
        UnsafeSourceError: refused by the policy (URLs off, private address, bad scheme...).
        ImageTooLargeError: more than ``policy.max_bytes`` bytes.
        ImageLoadError: anything else (no such file, empty input, unsupported type...).
    """
    policy = policy or DEFAULT_POLICY
    if isinstance(source, (Image.Image, np.ndarray)):
        return source
    if isinstance(source, str):
        return _read_string(source, policy)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = source if isinstance(source, bytes) else bytes(source)
        return _checked(data, source, policy)
    if isinstance(source, os.PathLike):
        return _read_path(Path(os.fspath(source)).expanduser(), source, policy)
    read = getattr(source, "read", None)
    if callable(read):
        return _read_file_object(read, source, policy)
    raise ImageLoadError(
        source,
        f"unsupported input type {type(source).__name__} (expected a path, URL, bytes, "
        "base64 string, binary file object, PIL image or numpy array)",
    )


def _checked(data: bytes, source: object, policy: SourcePolicy) -> bytes:
    if not data:
        raise ImageLoadError(source, "empty input (0 bytes)")
    if len(data) > policy.max_bytes:
        raise ImageTooLargeError(
            source, f"{len(data)} bytes exceeds the {policy.max_bytes}-byte limit (max_bytes)"
        )
    return data


def _read_string(text: str, policy: SourcePolicy) -> bytes:
    if not text.strip():
        raise ImageLoadError(text, "empty string")
    head = text[:16].lower()
    if head.startswith("data:"):
        return _read_data_uri(text, policy)
    scheme_match = _SCHEME_RE.match(text)
    scheme = scheme_match.group(1).lower() if scheme_match else None
    if scheme in ("http", "https"):
        if not policy.allow_urls:
            raise UnsafeSourceError(
                text, "URLs are disabled; pass policy=SourcePolicy(allow_urls=True) to fetch them"
            )
        from imagevec.io.http import fetch_url

        return _checked(fetch_url(text, policy), text, policy)
    if scheme == "file":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise UnsafeSourceError(text, f"file:// URI on a remote host {parts.netloc!r}")
        return _read_path(Path(url2pathname(parts.path)), text, policy)
    if len(text) <= _MAX_PATH_LEN and "\x00" not in text:
        local = os.path.expanduser(text) if text.startswith("~") else text
        if os.path.lexists(local):
            return _read_path(Path(local), text, policy)
    if scheme is not None:
        raise UnsafeSourceError(text, f"unsupported URL scheme {scheme!r} (only http/https)")
    data = _decode_base64_image(text)
    if data is not None:
        return _checked(data, text, policy)
    if len(text) > _MAX_PATH_LEN or "\n" in text:
        reason = "not an existing file, an http(s) URL, a data: URI or base64 image data"
    else:
        _check_path_allowed(Path(os.path.expanduser(text)), text, policy)
        reason = "no such file"
    raise ImageLoadError(text, reason)


def _decode_base64_image(text: str) -> bytes | None:
    """Decode ``text`` as base64 when it is base64 of an image file; otherwise ``None``."""
    if len(text) < _MIN_BASE64_LEN:
        return None
    if _BASE64_RE.fullmatch(text):
        decode = base64.b64decode
    elif _BASE64_URLSAFE_RE.fullmatch(text):
        decode = base64.urlsafe_b64decode  # type: ignore[assignment]
    else:
        return None
    compact = "".join(text.split())
    compact += "=" * (-len(compact) % 4)
    try:
        if not _has_image_magic(decode(compact[:64])):
            return None
        return decode(compact)
    except (binascii.Error, ValueError):
        return None


def _has_image_magic(head: bytes) -> bool:
    return any(head[offset : offset + len(magic)] == magic for offset, magic in _MAGIC)


def _read_data_uri(uri: str, policy: SourcePolicy) -> bytes:
    header, comma, payload = uri.partition(",")
    if not comma:
        raise ImageLoadError(uri, "malformed data URI (no comma)")
    params = header[5:].split(";")
    mime = params[0].strip().lower()
    if mime and not mime.startswith(_DATA_MIME_OK):
        raise ImageLoadError(uri, f"data URI of type {mime!r} is not an image")
    if len(payload) * 3 // 4 > policy.max_bytes + 3:
        raise ImageTooLargeError(uri, f"data URI exceeds the {policy.max_bytes}-byte limit")
    try:
        if any(p.strip().lower() == "base64" for p in params[1:]):
            compact = "".join(payload.split())
            data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        else:
            data = unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as exc:
        raise ImageLoadError(uri, f"invalid base64 in data URI ({exc})") from exc
    return _checked(data, uri, policy)


def _check_path_allowed(path: Path, source: object, policy: SourcePolicy) -> None:
    """Refuse a path the policy forbids, whether or not it exists: the answer for a path
    outside ``path_roots`` never tells which files exist there."""
    if not policy.allow_paths:
        raise UnsafeSourceError(
            source,
            "local files are not readable under this source policy; allow a folder with "
            "path_roots=[folder] (an agent tool's path_roots=, or SourcePolicy(path_roots=...))",
        )
    if policy.path_roots is not None:
        _check_roots(path, source, policy.path_roots)


def _read_path(path: Path, source: object, policy: SourcePolicy) -> bytes:
    _check_path_allowed(path, source, policy)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageLoadError(source, "no such file") from None
    except OSError as exc:
        raise ImageLoadError(source, f"cannot access file ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageLoadError(source, "is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageLoadError(source, "not a regular file")
    if info.st_size == 0:
        raise ImageLoadError(source, "file is empty (0 bytes)")
    if info.st_size > policy.max_bytes:
        raise ImageTooLargeError(
            source, f"file has {info.st_size} bytes, over the {policy.max_bytes}-byte limit"
        )
    try:
        with path.open("rb") as fh:
            data = fh.read(policy.max_bytes + 1)
    except OSError as exc:
        raise ImageLoadError(source, f"cannot read file ({exc.strerror or exc})") from exc
    return _checked(data, source, policy)


def _check_roots(path: Path, source: object, roots: tuple[Any, ...]) -> None:
    real = Path(os.path.realpath(path))  # never raises, not even on a symlink loop
    for root in roots:
        if real.is_relative_to(Path(os.path.realpath(Path(root).expanduser()))):
            return
    raise UnsafeSourceError(source, "path is outside the allowed directories (path_roots)")


def _read_file_object(read: Any, source: object, policy: SourcePolicy) -> bytes:
    try:
        data = read(policy.max_bytes + 1)
    except OSError as exc:
        raise ImageLoadError(source, f"cannot read file object ({exc})") from exc
    if isinstance(data, str):
        raise ImageLoadError(source, "file object is in text mode; open it with 'rb'")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageLoadError(source, f"file object returned {type(data).__name__}, not bytes")
    if not data:
        raise ImageLoadError(source, "file object returned no data (already read to the end?)")
    return _checked(bytes(data) if not isinstance(data, bytes) else data, source, policy)
