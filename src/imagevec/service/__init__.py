"""One query service behind everything that serves: the web page, the HTTP API, MCP, remote.

A :class:`QueryService` holds one :class:`~imagevec.ImageIndex` (the model is loaded once)
and turns requests into searches and pictures. Its API is the contract for ``serve/`` and
``mcp/``; it is stable:

* ``QueryService(index, roots=None, cache_dir=None, max_upload_bytes=20 MiB,
  max_query_pixels=40 M)`` or ``QueryService.open(db, url=None, collection=None,
  encoder=None, device="auto", **same options)``.
* ``warm_up()``: load the encoder and run it once.
* ``info() -> dict``: ``{location, collection, count, encoder: {model, name, dim, modalities,
  space, fingerprint} | None, roots, folders, indexing}``.
* ``search(text=None, *, image=None, like=None, query=None, include_self=False, k=10,
  where=None, folder=None, since=None, until=None, camera=None) -> list[Hit]`` (exactly one
  query; ``image`` = bytes, base64/data URI, PIL image, or a path under the roots; ``like`` =
  an indexed id: its stored vector, the item itself left out; ``query`` = a combined
  :class:`~imagevec.Query` or its string syntax, image parts read like ``image``; ``folder``
  keeps hits under that folder). ``search_json(...)`` returns the ``imagevec search --json``
  list ``[{rank, id, uri, score, metadata}]``; :func:`hits_to_json` converts hits.
* ``record(id) -> {id, uri, metadata}``; ``thumbnail(id, size=256) -> ImageData`` (JPEG,
  cached on disk by content hash); ``image(id, max_size=2048) -> ImageData`` (JPEG; None =
  full size). :class:`ImageData` is ``(data: bytes, mime: str)``.
* ``records(offset=0, limit=100) -> [{id, uri, metadata}]`` (a page, for listings);
  ``id_for_path(path) -> id | None`` (the record indexed under that path; reads no file).
* ``load_query_image(source) -> PIL.Image``: the safe decode used for image queries;
  ``fetch_query_image(url) -> bytes`` for callers that accept URLs (public addresses only).
* ``watch(folders, interval=10.0)``: index folders in the background (see
  :mod:`imagevec.service.watch`); ``close()`` stops it and closes the index.

Safety: only indexed records are read, by id; files are read through the safe loader and,
when ``roots`` is given, only under those folders (symlinks resolved). Image queries never
fetch URLs; paths are refused unless ``roots`` is set (and then confined to it); bytes are
capped and decoded with the bomb guard. Errors are imagevec's: :class:`NotIndexedError`
(unknown id), :class:`~imagevec.ConfigError` (bad request),
:class:`~imagevec.ImageLoadError` and subclasses (unreadable or refused image).

Example:
    >>> from imagevec.service import QueryService
    >>> service = QueryService.open("imagevec-db", roots=["~/Photos"])   # doctest: +SKIP
    >>> service.search_json("a red bicycle", k=3)[0]["rank"]              # doctest: +SKIP
    1
    >>> thumb = service.thumbnail(service.search("a cat", k=1)[0].id)     # doctest: +SKIP
    >>> thumb.mime
    'image/jpeg'
"""

from __future__ import annotations

from imagevec.service.core import (
    MAX_K,
    MAX_UPLOAD_BYTES,
    NotIndexedError,
    QueryService,
    hits_to_json,
)
from imagevec.service.images import ImageData

__all__ = [
    "MAX_K",
    "MAX_UPLOAD_BYTES",
    "ImageData",
    "NotIndexedError",
    "QueryService",
    "hits_to_json",
]
