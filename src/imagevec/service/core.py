"""``QueryService``: one loaded index behind the web page, the HTTP API, MCP and remote clients.

See the package docstring (:mod:`imagevec.service`) for the contract.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from imagevec.encoders.advice import text_search_advice
from imagevec.errors import ConfigError, NotIndexedError
from imagevec.index import ImageIndex
from imagevec.io.budget import PixelBudget, Ticket
from imagevec.io.policy import SourcePolicy
from imagevec.search.query import Part, Query, parse_query
from imagevec.service.images import ImageData, ThumbnailCache, default_cache_dir, render_jpeg
from imagevec.service.watch import FolderWatcher
from imagevec.store.chroma import DEFAULT_COLLECTION
from imagevec.store.record import SHA256
from imagevec.store.records import file_uri, record_id
from imagevec.store.uris import uri_from_metadata
from imagevec.types import Hit, SearchRequest, hits_to_json

__all__ = ["MAX_K", "MAX_UPLOAD_BYTES", "NotIndexedError", "QueryService", "hits_to_json"]

MAX_K = 200
MAX_UPLOAD_BYTES = 20 * 2**20
MAX_QUERY_PIXELS = 40_000_000
DECODE_BUDGET_PIXELS = 64_000_000
QUERY_DRAFT = 512
THUMBNAIL_SIZES = (64, 128, 256, 384, 512)
_FOLDER_LIST_MAX = 200


class QueryService:
    """Searches and pictures of one :class:`~imagevec.ImageIndex`, model loaded once.

    Args:
        index: the index to serve (the service closes it in :meth:`close`).
        roots: folders whose files may be read (thumbnails, images, image queries by path);
            None: only the indexed files themselves, and no query by path.
        cache_dir: thumbnail cache folder (default :func:`default_cache_dir`).
        max_upload_bytes: cap on an image query's encoded bytes.
        max_query_pixels: cap on an image query's decoded pixels (bomb guard).
        decode_budget_pixels: cap on the pixels decoded at once by all requests together
            (image queries, thumbnails, images); a request waits its turn (see
            :mod:`imagevec.io.budget`). At least ``max_query_pixels``.
    """

    def __init__(
        self,
        index: ImageIndex,
        *,
        roots: Sequence[str | os.PathLike[str]] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_query_pixels: int = MAX_QUERY_PIXELS,
        decode_budget_pixels: int = DECODE_BUDGET_PIXELS,
    ) -> None:
        self.index = index
        self.roots = tuple(Path(r).expanduser().resolve() for r in roots) if roots else None
        self.thumbnails = ThumbnailCache(cache_dir or default_cache_dir())
        self.max_upload_bytes = max_upload_bytes
        self.max_query_pixels = max_query_pixels
        self.decode_budget = PixelBudget(max(decode_budget_pixels, max_query_pixels))
        self.watcher: FolderWatcher | None = None
        self._encode_lock = threading.Lock()  # one forward pass at a time: steady latency
        self._upload_policy = SourcePolicy(allow_paths=False, max_bytes=max_upload_bytes)
        self._query_policy = SourcePolicy(
            allow_paths=self.roots is not None,
            path_roots=self.roots,
            max_bytes=max_upload_bytes,
        )
        self._file_policy = SourcePolicy(path_roots=self.roots)
        self._folders: tuple[int, list[str]] = (-1, [])

    @classmethod
    def open(
        cls,
        db: str | os.PathLike[str] | None = None,
        *,
        url: str | None = None,
        collection: str | None = None,
        encoder: Any = None,
        device: str = "auto",
        **options: Any,
    ) -> QueryService:
        """Open the index at ``db`` (or a Chroma ``url``) and serve it (see the class args)."""
        index = ImageIndex(
            db, url=url, collection=collection or DEFAULT_COLLECTION, encoder=encoder, device=device
        )
        return cls(index, **options)

    # ------------------------------------------------------------------ state
    def warm_up(self) -> None:
        """Load the encoder and run one text, then one image through it (first query is fast).

        Only the text warm-up holds the encode lock: a first text query (an agent's usual
        first call) waits for the text tower, not for the larger image tower to open.
        """
        from PIL import Image

        with self._encode_lock:
            encoder = self.index.encoder
            if "text" in encoder.modalities:
                encoder.embed_texts(["warm up"])
        encoder.embed_images([Image.new("RGB", (64, 64), (128, 128, 128))])

    def info(self) -> dict[str, Any]:
        """``{location, collection, count, encoder: {...} | None, roots, indexing}`` (JSON)."""
        stamp = self.index.stamp
        encoder = None
        if stamp:
            encoder = {k: stamp.get(k) for k in ("model", "name", "dim", "modalities", "space")}
            encoder["fingerprint"] = stamp.get("fingerprint")
            encoder["text_search"] = text_search_advice(stamp)
        return {
            "location": self.index.location,
            "collection": self.index.collection,
            "count": self.index.count(),
            "encoder": encoder,
            "roots": [str(r) for r in self.roots] if self.roots else None,
            "folders": self.folders(),
            "indexing": self.watcher.status() if self.watcher else None,
        }

    def folders(self) -> list[str]:
        """The folders holding indexed images (for a folder filter), most populated first."""
        count = self.index.count()
        if self._folders[0] == count:
            return self._folders[1]
        tally: dict[str, int] = {}
        for _, meta in self._iter_metadata():
            folder = os.path.dirname(uri_from_metadata(meta))
            tally[folder] = tally.get(folder, 0) + 1
        folders = sorted(tally, key=lambda f: (-tally[f], f))[:_FOLDER_LIST_MAX]
        self._folders = (count, folders)
        return folders

    def _iter_metadata(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return self.index.iter_metadata() if self.index.count() else iter(())

    # ------------------------------------------------------------------ search
    def search(self, request: SearchRequest | str | None = None, **kwargs: Any) -> list[Hit]:
        """The ``k`` best hits for a :class:`~imagevec.types.SearchRequest` (or its fields
        as keywords, as :meth:`ImageIndex.search` takes them): a text, an image (bytes, PIL,
        or a path under the roots), an indexed item (``like``: its id or path; its stored
        vector, the item left out unless ``include_self``) or a combined ``query`` (a
        :class:`~imagevec.search.Query` or its string syntax; image parts are read like
        ``image``), with the request's :class:`~imagevec.types.PhotoFilter`.

        Raises:
            ConfigError: not exactly one query, a vector, bad ``k`` or filter.
            NotIndexedError: ``like`` names no record.
            ImageLoadError: the image cannot be read (too large, corrupt, refused path).
        """
        request, extra = SearchRequest.build(request, **kwargs)
        if extra:
            raise ConfigError(f"unknown search options {sorted(extra)}")
        kind = request.kind
        if kind == "vector":
            raise ConfigError("give exactly one of text, image, like or query")
        if not isinstance(request.k, int) or not 1 <= request.k <= MAX_K:
            raise ConfigError(f"k must be between 1 and {MAX_K}, got {request.k!r}")
        if kind == "like":  # an id, or the path of an indexed file (never read)
            return self.index.search(request)
        if kind == "text":
            text = request.text or ""
            if not text.strip():
                raise ConfigError("the text query is empty")
            with self._encode_lock:
                return self.index.search(dataclasses.replace(request, text=text[:1000]))
        with self.decode_budget.hold() as ticket:  # decoded pixels count until the search ends
            if kind == "query":
                query = self._safe_query(request.query, ticket)
                safe = dataclasses.replace(request, query=query)
                with self._encode_lock:
                    return self.index.search(safe)
            image = self.load_query_image(request.image, ticket)
            picture = dataclasses.replace(request, image=image)
            with self._encode_lock:
                return self.index.search(picture)

    def _safe_query(self, query: Query | str, ticket: Ticket | None = None) -> Query:
        """``query`` with every image part decoded here (caps, roots), never by the index."""
        if isinstance(query, str):
            query = parse_query(query[:4000], is_file=self._is_served_file)
        if not isinstance(query, Query):
            raise ConfigError(f"query must be a Query or a string, got {type(query).__name__}")
        parts = [
            Part("image", self.load_query_image(p.value, ticket), p.weight)
            if p.kind == "image"
            else Part("text", p.value[:1000], p.weight)
            if p.kind == "text"
            else p
            for p in query.parts
        ]
        return Query(tuple(parts))

    def _is_served_file(self, name: str) -> bool:
        """Whether ``name`` is a file under the roots (never looks outside them, so a query
        term's meaning tells nothing about files elsewhere)."""
        if self.roots is None:
            return False
        try:
            real = Path(name).expanduser().resolve()
        except (OSError, RuntimeError, ValueError):
            return False
        return any(real.is_relative_to(root) for root in self.roots) and real.is_file()

    def search_json(
        self, request: SearchRequest | str | None = None, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """:meth:`search` as ``[{rank, id, uri, score, metadata}]`` (``imagevec search --json``)."""
        return hits_to_json(self.search(request, **kwargs))

    def load_query_image(self, image: Any, ticket: Ticket | None = None) -> Any:
        """Decode an image query safely: bytes/base64 under the upload cap, paths only under
        the roots, never a URL; returns an RGB PIL image. A large JPEG is decoded at a
        reduced scale (short side still >= 512 px: more than any encoder's input), so a
        12 MP phone photo costs a fraction of a full decode."""
        from imagevec.io.decode import load_image

        is_path = isinstance(image, (str, os.PathLike)) and not str(image).startswith("data:")
        policy = self._query_policy if is_path else self._upload_policy
        return load_image(
            image,
            policy=policy,
            max_pixels=self.max_query_pixels,
            draft_size=QUERY_DRAFT,
            budget=ticket,
        )

    def fetch_query_image(self, url: str) -> bytes:
        """Download an image query (for callers that let users give URLs): ``http(s)`` to
        public addresses only, redirects re-checked, capped at ``max_upload_bytes``.

        Raises:
            UnsafeSourceError: private address, other scheme; ImageLoadError: fetch failed.
        """
        from imagevec.io.sources import read_source

        policy = SourcePolicy(allow_urls=True, allow_paths=False, max_bytes=self.max_upload_bytes)
        return bytes(read_source(url, policy))  # type: ignore[arg-type]  # never PIL/array

    # ------------------------------------------------------------------ records and pictures
    def record(self, id_: str) -> dict[str, Any]:
        """``{id, uri, metadata}`` of an indexed id.

        Raises:
            NotIndexedError: no such record.
        """
        if not isinstance(id_, str):
            raise NotIndexedError(repr(id_)[:80], self.index.collection)
        meta = self.index.metadata([id_]).get(id_)
        if meta is None:
            raise NotIndexedError(id_[:80], self.index.collection)
        uri = uri_from_metadata(meta)  # the real path, also for a name that is not UTF-8
        return {"id": id_, "uri": uri, "metadata": dict(sorted(meta.items()))}

    def records(self, offset: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """A page of ``{id, uri, metadata}`` in the store's order (listings, e.g. MCP resources).

        Raises:
            ConfigError: negative ``offset`` or ``limit`` outside 1..1000.
        """
        if offset < 0 or not 1 <= limit <= 1000:
            raise ConfigError(f"need offset >= 0 and 1 <= limit <= 1000, got {offset}, {limit}")
        page = itertools.islice(self._iter_metadata(), offset, offset + limit)
        return [
            {"id": id_, "uri": uri_from_metadata(meta), "metadata": dict(sorted(meta.items()))}
            for id_, meta in page
        ]

    def id_for_path(self, path: str | os.PathLike[str]) -> str | None:
        """The id of the record indexed under ``path`` (made absolute), or None. Reads no file."""
        id_ = record_id(file_uri(path))
        return id_ if self.index.metadata([id_]) else None

    def thumbnail(self, id_: str, size: int = 256) -> ImageData:
        """A JPEG thumbnail (fits ``size`` x ``size``) of an indexed image, cached on disk.

        ``size`` is rounded up to one of 64, 128, 256, 384, 512 (bounded cache).

        Raises:
            NotIndexedError: no such record.
            ImageLoadError: the file is gone, changed into garbage, or outside the roots.
        """
        size = next((s for s in THUMBNAIL_SIZES if s >= size), THUMBNAIL_SIZES[-1])
        record = self.record(id_)
        sha = str(record["metadata"].get(SHA256, ""))
        return self.thumbnails.get(
            sha, record["uri"], size, self._file_policy, budget=self.decode_budget
        )

    def image(self, id_: str, max_size: int | None = 2048) -> ImageData:
        """The indexed image itself as JPEG, fit in ``max_size`` (None: full size).

        Raises:
            NotIndexedError: no such record.
            ImageLoadError: the file is gone, corrupt, or outside the roots.
        """
        if max_size is not None and max_size < 1:
            raise ConfigError(f"max_size must be positive, got {max_size}")
        uri = self.record(id_)["uri"]
        return render_jpeg(uri, max_size, self._file_policy, budget=self.decode_budget)

    # ------------------------------------------------------------------ indexing
    def watch(self, folders: Sequence[str | os.PathLike[str]], interval: float = 10.0) -> None:
        """Index ``folders`` in a background thread now and every ``interval`` seconds;
        queries keep working and see new photos as each batch is written."""
        if self.roots is not None:
            for folder in folders:
                real = Path(folder).expanduser().resolve()
                if not any(real.is_relative_to(root) for root in self.roots):
                    raise ConfigError(f"watched folder {folder} is outside the served roots")
        self.watcher = FolderWatcher(self.index, folders, interval=interval)
        self.watcher.start()

    def close(self) -> None:
        """Stop indexing and close the index (idempotent)."""
        if self.watcher is not None:
            self.watcher.stop()
        self.index.close()

    def __enter__(self) -> QueryService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
