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
import os
from datetime import date
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
from imagevec.types import Hit, SearchIndex

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
        self,
        text: str | None = None,
        *,
        image: Any = None,
        like: str | os.PathLike[str] | None = None,
        query: Any = None,
        include_self: bool = False,
        k: int = 10,
        where: dict[str, Any] | None = None,
        folder: str | os.PathLike[str] | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
        camera: str | None = None,
        policy: Any = None,
        **options: Any,
    ) -> list[Hit]:
        """Like :meth:`ImageIndex.search`: exactly one of ``text``, ``image``, ``like`` or
        ``query``, with the same filters.

        Args:
            image: any input the loader takes, read here under ``policy`` and uploaded.
            like: an indexed id (or indexed path on the server): more like it.
            query: a :class:`~imagevec.search.Query` or its string syntax; its image parts
                are read here (under ``policy``) and uploaded, its texts and ids sent as is.
            folder: only images under this folder (a server path).
            policy: the :class:`~imagevec.SourcePolicy` for reading images here.
        """
        if options:
            raise ConfigError(f"a served index does not take {sorted(options)}")
        if sum(q is not None for q in (text, image, like, query)) != 1:
            raise ConfigError("search takes exactly one of text=, image=, like= or query=")
        filters: dict[str, Any] = {
            "k": k,
            "folder": os.fspath(folder) if folder is not None else None,
            "since": _day(since),
            "until": _day(until),
            "camera": camera,
        }
        if image is not None:
            params = {key: value for key, value in filters.items() if value is not None}
            if where:
                import json

                params["where"] = json.dumps(where)
            rows = self._call(
                "POST",
                "/api/search/image",
                params=params,
                content=_image_bytes(image, policy),
                headers={"Content-Type": "application/octet-stream"},
                ref=(image,),
            )
        else:
            body = {
                "text": text,
                "like": os.fspath(like) if like is not None else None,
                "query": _parts(query, policy) if query is not None else None,
                "include_self": include_self,
                "where": where,
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


def _day(value: str | date | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def _parts(query: Any, policy: Any) -> list[dict[str, Any]]:
    """A combined query as JSON parts; image parts become data URIs of the bytes read here."""
    import base64

    from imagevec.search.query import Query, parse_query

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
