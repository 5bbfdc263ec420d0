"""What a tool argument names: an indexed photo, or an image to search by.

A photo is named by its record id (``9f2c...``, as search results give it), by its resource
URI (``imagevec://photo/9f2c...``) or by the path it was indexed under. An image to search
by can also be a ``data:image/...;base64,`` URI, a file under the server's roots, or (only
when the server allows it) an ``http(s)`` URL. Nothing here reads a file: it only classifies
and refuses (``..`` in a path, a path without roots, a URL when URLs are off).

Example:
    >>> photo_uri("9f2c")
    'imagevec://photo/9f2c'
    >>> classify_image("imagevec://photo/9f2c", allow_urls=False).kind
    'id'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import PurePath

from imagevec.errors import ConfigError, UnsafeSourceError

__all__ = ["PHOTO_URI_PREFIX", "ImageRef", "classify_image", "photo_id", "photo_uri"]

PHOTO_URI_PREFIX = "imagevec://photo/"
MAX_REF_CHARS = 4096  # ids and paths; data URIs are bounded by the byte cap instead
_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")


def photo_uri(id_: str) -> str:
    """The resource URI of an indexed photo."""
    return PHOTO_URI_PREFIX + id_


def photo_id(ref: str) -> str:
    """The record id in an id or an ``imagevec://photo/<id>`` URI.

    Raises:
        ConfigError: not an id or a photo URI (a path or URL is never taken for an id).
    """
    text = ref.strip()
    if text.startswith(PHOTO_URI_PREFIX):
        text = text[len(PHOTO_URI_PREFIX) :]
    if not _ID.fullmatch(text) or text in (".", ".."):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ConfigError(
            f"{shown!r} is not a photo id: give the 'id' of a search result "
            f"(or its resource URI {PHOTO_URI_PREFIX}<id>)"
        )
    return text


@dataclass(frozen=True)
class ImageRef:
    """A classified image argument.

    Attributes:
        kind: ``id`` (an indexed photo), ``data`` (a data URI), ``url`` or ``path``.
        value: the id, the data URI, the URL, or the absolute path (``~`` expanded).
    """

    kind: str
    value: str


def classify_image(ref: str, *, allow_urls: bool) -> ImageRef:
    """Classify an image argument without reading anything.

    Raises:
        ConfigError: empty or overlong.
        UnsafeSourceError: a URL while URLs are off, another URL scheme, or ``..`` in a path.
    """
    text = ref.strip()
    if not text:
        raise ConfigError("the image argument is empty")
    if text.startswith(PHOTO_URI_PREFIX):
        return ImageRef("id", photo_id(text))
    if text[:5].lower() == "data:":
        return ImageRef("data", text)
    if len(text) > MAX_REF_CHARS:
        raise ConfigError(f"the image argument is too long ({len(text)} characters)")
    scheme = _URL.match(text)
    if scheme:
        name = scheme.group(0)[:-3].lower()
        if name not in ("http", "https"):
            raise UnsafeSourceError(text, f"{name}:// is not supported; give a photo id or a path")
        if not allow_urls:
            raise UnsafeSourceError(
                text, "this server does not fetch URLs (start it with --allow-urls)"
            )
        return ImageRef("url", text)
    if _ID.fullmatch(text) and os.sep not in text and "." not in text:
        return ImageRef("id", text)
    return ImageRef("path", safe_path(text))


def safe_path(text: str) -> str:
    """``text`` as an absolute path (``~`` expanded); ``..`` components are refused.

    Raises:
        UnsafeSourceError: the path has a ``..`` component or a NUL byte.
    """
    if "\x00" in text:
        raise UnsafeSourceError(text, "a path cannot contain a NUL byte")
    if ".." in PurePath(text).parts:
        raise UnsafeSourceError(text, "'..' is not allowed in a path")
    return os.path.abspath(os.path.expanduser(text))
