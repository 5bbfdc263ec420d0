"""How a file path is stored when the file system allows names that are not valid UTF-8.

Chroma stores text as UTF-8, but POSIX file names are bytes: ``caf\\xe9.jpg`` (Latin-1) is a
valid name that Python holds as ``'caf\\udce9.jpg'`` (``surrogateescape``). Such a path is
stored losslessly: the metadata ``uri`` is a printable form (undecodable bytes shown as
``\\xNN``) and ``path_b64`` holds the exact bytes (base64 of ``os.fsencode(path)``).
:func:`uri_from_metadata` gives the real path back, the one every loader and ``os`` call takes.
Paths that are valid UTF-8 (nearly all) are stored as they are, with no ``path_b64``.

Example:
    >>> meta = stored_path_fields("/p/caf\\udce9.jpg")
    >>> meta["uri"], uri_from_metadata(meta) == "/p/caf\\udce9.jpg"
    ('/p/caf\\\\xe9.jpg', True)
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Any

from imagevec.store.record import FILENAME, PATH_B64, URI

__all__ = ["PATH_B64", "printable_text", "stored_path_fields", "unstorable", "uri_from_metadata"]


def is_utf8(text: str) -> bool:
    """Whether ``text`` can be stored as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_text(text: str) -> str:
    """``text`` with undecodable file-name bytes (lone surrogates) shown as ``\\xNN``."""
    if is_utf8(text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def stored_path_fields(uri: str) -> dict[str, str]:
    """``{"uri", "filename"}`` to store for a path, plus ``path_b64`` when it is not UTF-8."""
    fields = {URI: printable_text(uri), FILENAME: printable_text(os.path.basename(uri))}
    if not is_utf8(uri):
        fields[PATH_B64] = base64.b64encode(os.fsencode(uri)).decode("ascii")
    return fields


def uri_from_metadata(meta: Mapping[str, Any]) -> str:
    """The real path of a record (exact bytes restored from ``path_b64`` when present)."""
    encoded = meta.get(PATH_B64)
    if isinstance(encoded, str) and encoded:
        try:
            return os.fsdecode(base64.b64decode(encoded, validate=True))
        except ValueError:
            pass  # a damaged field: fall back to the printable form
    return str(meta.get(URI, ""))


def unstorable(meta: Mapping[str, Any]) -> str | None:
    """Why ``meta`` cannot be written to Chroma (a key or text that is not UTF-8), or None."""
    for key, value in meta.items():
        for text, what in ((key, "key"), (value, "value")):
            if isinstance(text, str) and not is_utf8(text):
                return f"metadata {what} {printable_text(text)!r} is not valid UTF-8"
    return None
