"""A served index used from Python: ``imagevec.connect(url)`` -> :class:`RemoteIndex`.

It has the same ``search()`` as :class:`~imagevec.ImageIndex` (text, image, ``like``, ``k``,
``where``), so LangChain and LlamaIndex retrievers and tools take it unchanged: a chat app
queries an index served by ``imagevec serve`` without loading a model or opening a store.
Image queries are read on the client (under the ``policy`` passed, like a local index would)
and uploaded as bytes; the server decodes them with its own limits.

The transport is ``httpx`` (already installed with chromadb): one pooled keep-alive
connection, so a warm query costs one round trip.

Example:
    >>> import imagevec
    >>> photos = imagevec.connect("http://127.0.0.1:8700", token=None)   # doctest: +SKIP
    >>> photos.search("a red bicycle", k=3)[0].uri                       # doctest: +SKIP
    '/home/me/Photos/bike.jpg'
    >>> photos.search(like=hit.id, k=5)                                  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

from imagevec.errors import (
    ConfigError,
    ImageLoadError,
    ImageTooLargeError,
    NoServerError,
    NotIndexedError,
    StoreLockedError,
    UnsafeSourceError,
)
from imagevec.search.query import Query, parse_query
from imagevec.types import Hit, SearchIndex, SearchRequest

__all__ = ["RemoteIndex", "connect"]


def connect(url: str, *, token: str | None = None, timeout: float = 60.0) -> RemoteIndex:
    """Open an index served by ``imagevec serve`` at ``url`` (checked at once).

    Args:
        url: e.g. ``http://127.0.0.1:8700``.
        token: the server's ``--token``, if it has one (env ``IMAGEVEC_TOKEN`` otherwise).
        timeout: seconds per request.

    Raises:
        ConfigError: nothing answers at ``url``, or the token is missing or wrong.
    """
    remote = RemoteIndex(url, token=token, timeout=timeout)
    remote.info()
    return remote


class RemoteIndex(SearchIndex):
    """The client of a served index; see :func:`connect`.

    Args:
        url: the server's base URL.
        token: bearer token (default: env ``IMAGEVEC_TOKEN``).
        timeout: seconds per request.
    """

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 60.0) -> None:
        import httpx

        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"server url must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        token = token if token is not None else os.environ.get("IMAGEVEC_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        self._collection = "?"

    # ------------------------------------------------------------------ transport
    def _call(self, method: str, path: str, *, ref: Any = None, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise NoServerError(self.url, str(exc), server="imagevec") from exc
        if response.is_success:
            return (
                response.json()
                if "json" in response.headers.get("content-type", "")
                else (response.content)
            )
        raise self._error(response.status_code, _detail(response), ref)

    def _error(self, status: int, detail: str, ref: Any) -> Exception:
        """The imagevec error for a status; ``ref`` is the id, the image query (a tuple), or
        the ``like:`` parts of a combined query (a list)."""
        image = ref[0] if isinstance(ref, tuple) else None
        if status == 401:
            return ConfigError(f"the server at {self.url} wants a valid token: {detail}")
        if status == 404 and isinstance(ref, str):
            return NotIndexedError(ref, self._collection)
        if status == 404 and isinstance(ref, list) and ref:  # the like: parts of a query
            named = next((r for r in ref if repr(r) in detail), ref[0])
            return NotIndexedError(named, self._collection)
        if status == 413:
            return ImageTooLargeError(image if image is not None else "<request>", detail)
        if status == 403:
            return UnsafeSourceError(image if image is not None else "<request>", detail)
        if status == 422 and image is not None:
            return ImageLoadError(image, detail)
        if status == 503:
            return StoreLockedError(self.url, detail)
        return ConfigError(f"{self.url} answered {status}: {detail}")

    # ------------------------------------------------------------------ the index API
    def info(self) -> dict[str, Any]:
        """The server's ``/api/info``: location, collection, count, encoder, folders."""
        info = self._call("GET", "/api/info")
        self._collection = str(info.get("collection", "?"))
        return info

    def count(self) -> int:
        """Number of images served."""
        return int(self.info()["count"])

    def __len__(self) -> int:
        return self.count()

    def search(
        self, text: str | SearchRequest | None = None, *, policy: Any = None, **kwargs: Any
    ) -> list[Hit]:
        """Like :meth:`ImageIndex.search`: a :class:`~imagevec.types.SearchRequest` or its
        fields as keywords -- exactly one of ``text``, ``image``, ``like`` or ``query`` --
        with the same filters (``folder`` is a path on the server).

        Args:
            text: a text query, or a whole :class:`~imagevec.types.SearchRequest`.
            policy: the :class:`~imagevec.SourcePolicy` for reading images here: ``image``
                (any input the loader takes) and the image parts of a combined ``query``
                are read here and uploaded; texts and ids are sent as they are.
            **kwargs: the request's fields and filters.
        """
        request, options = SearchRequest.build(text, **kwargs)
        if options:
            raise ConfigError(f"a served index does not take {sorted(options)}")
        kind = request.kind
        if kind == "vector":
            raise ConfigError("search takes exactly one of text=, image=, like= or query=")
        filters = request.filter.to_json()
        if kind == "image":
            params = {"k": request.k, **filters}
            if request.filter.where:
                params["where"] = json.dumps(request.filter.where)
            rows = self._call(
                "POST",
                "/api/search/image",
                params=params,
                content=_image_bytes(request.image, policy),
                headers={"Content-Type": "application/octet-stream"},
                ref=(request.image,),
            )
        else:
            body = {
                "text": request.text,
                "like": os.fspath(request.like) if request.like is not None else None,
                "query": _parts(request.query, policy) if kind == "query" else None,
                "include_self": request.include_self,
                "k": request.k,
                **filters,
            }
            likes = [p["value"] for p in body["query"] or () if p["kind"] == "like"]
            rows = self._call("POST", "/api/search", json=body, ref=body["like"] or likes)
        return [Hit(r["id"], r["uri"], float(r["score"]), dict(r["metadata"])) for r in rows]

    def thumbnail(self, id_: str, size: int = 256) -> bytes:
        """JPEG bytes of an indexed image's thumbnail."""
        return self._call(
            "GET", f"/api/items/{_quoted(id_)}/thumbnail", params={"size": size}, ref=id_
        )

    def image(self, id_: str, max_size: int = 2048) -> bytes:
        """JPEG bytes of an indexed image, fit in ``max_size``."""
        return self._call(
            "GET", f"/api/items/{_quoted(id_)}/image", params={"max_size": max_size}, ref=id_
        )

    # ------------------------------------------------------------------ browsing
    def browse(
        self, *, cursor: str | None = None, limit: int = 60, group: str = "day", **filters: Any
    ) -> dict[str, Any]:
        """A page of the library newest first: ``{items, next, total}``; pass ``next`` back as
        ``cursor``. ``filters``: ``since``, ``until``, ``camera``, ``lens``, ``folder``
        (relative name), ``format`` (see :mod:`imagevec.serve.browse_routes`).

        Example:
            >>> page = photos.browse(camera="x100", limit=100)           # doctest: +SKIP
            >>> more = photos.browse(camera="x100", cursor=page["next"])  # doctest: +SKIP
        """
        params = {"limit": limit, "group": group, **_present(filters)}
        if cursor:
            params["cursor"] = cursor
        return dict(self._call("GET", "/api/browse", params=params))

    def facets(self, **filters: Any) -> dict[str, Any]:
        """Counts by camera, lens, year, format and folder: ``{total, cameras: [{value,
        count}], ...}`` of the photos matching ``filters`` (as :meth:`browse`)."""
        return dict(self._call("GET", "/api/facets", params=_present(filters)))

    def calibration(self, text: str | None = None, like: str | None = None) -> dict[str, Any]:
        """The score at or above which a hit of this query (``text`` or ``like`` id; neither:
        image queries) is a good match: ``{threshold, mean, std, z, basis, sample}``."""
        params = {k: v for k, v in (("q", text), ("like", like)) if v is not None}
        return dict(self._call("GET", "/api/calibration", params=params, ref=like))

    def duplicates(self, threshold: float | None = None) -> list[dict[str, Any]]:
        """Duplicate groups as JSON (keeper first, ``reason``), like ``imagevec dupes``."""
        params = {} if threshold is None else {"threshold": threshold}
        return list(self._call("GET", "/api/dupes", params=params))

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> RemoteIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteIndex({self.url!r})"


def _quoted(id_: str) -> str:
    from urllib.parse import quote

    return quote(str(id_), safe="")


def _detail(response: Any) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text[:300]
    return detail if isinstance(detail, str) else str(detail)[:300]


def _parts(query: Any, policy: Any) -> list[dict[str, Any]]:
    """A combined query as JSON parts; image parts become data URIs of the bytes read here."""
    import base64

    if isinstance(query, str):
        query = parse_query(query)
    if not isinstance(query, Query):
        raise ConfigError(f"query must be an imagevec Query or a string, got {type(query)}")
    out = []
    for part in query.parts:
        value = part.value
        if part.kind == "image":
            data = base64.b64encode(_image_bytes(value, policy)).decode("ascii")
            value = f"data:application/octet-stream;base64,{data}"
        out.append({"kind": part.kind, "value": os.fspath(value), "weight": part.weight})
    return out


def _image_bytes(image: Any, policy: Any) -> bytes:
    """The encoded bytes of an image query, read locally under ``policy``."""
    from imagevec.io.sources import read_source

    data = read_source(image, policy)
    if isinstance(data, bytes):
        return data
    from imagevec.io.decode import load_image

    buffer = io.BytesIO()
    load_image(data).save(buffer, format="PNG")  # PIL images and arrays, losslessly
    return buffer.getvalue()


def _present(filters: dict[str, Any]) -> dict[str, str]:
    allowed = {"since", "until", "camera", "lens", "folder", "format"}
    unknown = set(filters) - allowed
    if unknown:
        raise ConfigError(f"unknown filters {sorted(unknown)}; use {sorted(allowed)}")
    return {k: str(v) for k, v in filters.items() if v is not None}
