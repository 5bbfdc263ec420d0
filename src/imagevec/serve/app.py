"""The HTTP API and the web page over one :class:`~imagevec.service.QueryService`.

Routes (JSON unless said; OpenAPI at ``/api/openapi.json``):

========================================  ==============================================
``GET  /``                                the search page (static, works offline)
``GET  /api/health``                      ``{"status": "ok"}``
``GET  /api/info``                        store, collection, count, encoder, folders
``GET  /api/search?q=&k=&<filters>``      text or combined query -> ``[{rank,id,uri,score,..}]``
``POST /api/search``                      JSON ``{text | like | image | query, k, <filters>}``
``POST /api/search/image?k=&<filters>``   body = the image file (raw bytes, any format)
``GET  /api/items/{id}``                  ``{id, uri, metadata}``
``GET  /api/items/{id}/similar?k=``       more like this (stored vector, item left out)
``GET  /api/items/{id}/thumbnail?size=``  JPEG thumbnail (cached on disk by content hash)
``GET  /api/items/{id}/image?max_size=``  the image as JPEG (EXIF stripped, rotated)
``GET  /dupes``                           the duplicates page
========================================  ==============================================

Browsing without a query (library pages, facets, calibration, duplicate groups, originals):
:mod:`imagevec.serve.browse_routes`. A ``folder`` filter may be an absolute path or a
folder's relative name as the facets list it (the page sends those).

``<filters>`` are the fields of :class:`~imagevec.types.PhotoFilter`: ``where`` (a JSON
object; JSON text in a query string), ``folder``, ``since``, ``until``, ``camera``..., under
the same names in a JSON body and in a query string (search, image search, similar).

Uploads are raw request bodies read into memory under a cap (never spooled to disk, unlike
multipart); ids are checked against the index, never used as paths. Errors are
``{"detail": "..."}`` with 400 (bad request), 401 (token), 403 (refused source),
404 (unknown id), 413 (too large), 422 (not an image / invalid fields), 503 (store locked,
or busy: too many requests or images being decoded at once). Connection limits (header
size and deadline, connection cap) are :mod:`imagevec.serve.limits`.

Example:
    >>> app = create_app(QueryService.open("imagevec-db"))              # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8700)                    # doctest: +SKIP
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
from collections.abc import Iterable
from importlib.resources import files
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from imagevec.errors import (
    ConfigError,
    ImageLoadError,
    ImageTooLargeError,
    StoreLockedError,
    UnsafeSourceError,
)
from imagevec.io.budget import DecodeBusyError
from imagevec.serve.browse_routes import add_browse_routes
from imagevec.serve.schemas import FilterQuery, HitOut, InfoOut, RecordOut, SearchIn
from imagevec.serve.security import LOOPBACK_HOSTS, Gate
from imagevec.service import MAX_K, ImageData, NotIndexedError, QueryService
from imagevec.service.browsing import Browsing
from imagevec.types import PhotoFilter, SearchRequest

__all__ = ["create_app"]

_Filter = TypeVar("_Filter", PhotoFilter, None)

STATIC = files("imagevec.serve") / "static"
K = Annotated[int, Query(ge=1, le=MAX_K, description="Number of results.")]
Filters = Annotated[FilterQuery, Query()]  # where (JSON), folder, since, until, camera...
_ERRORS: list[tuple[type[Exception], int]] = [
    (NotIndexedError, 404),
    (DecodeBusyError, 503),
    (ImageTooLargeError, 413),
    (UnsafeSourceError, 403),
    (ImageLoadError, 422),
    (ConfigError, 400),
    (StoreLockedError, 503),
]


def create_app(
    service: QueryService,
    *,
    token: str | None = None,
    allowed_hosts: Iterable[str] = LOOPBACK_HOSTS,
    write_token: str | None = None,
    trash_dir: str | os.PathLike[str] | None = None,
) -> Gate:
    """The ASGI app: FastAPI routes behind the :class:`~imagevec.serve.security.Gate`.

    Args:
        service: what is served (its ``max_upload_bytes`` caps request bodies).
        token: require ``Authorization: Bearer <token>`` (or the page's cookie) everywhere.
        allowed_hosts: names accepted in the ``Host`` header (``"*"``: any).
        write_token: also serve ``POST /api/add`` to holders of this token (the owner's
            processes: :mod:`imagevec.serve.writes`).
        trash_dir: let the duplicates page move photos into this folder (outside the
            roots); None (default): the page is read-only.
    """
    api = FastAPI(
        title="imagevec",
        summary="Search an image index by text, by image or by example; get thumbnails.",
        version="1",
        docs_url=None,  # Swagger UI loads from a CDN; the page must work offline
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    for error, status in _ERRORS:
        api.add_exception_handler(error, _handler(status))
    api.add_exception_handler(HTTPException, _too_deep)
    browsing = Browsing(service, trash_dir)
    browsing.prepare()  # the library view is read while the server starts
    _routes(api, service, browsing)
    add_browse_routes(api, browsing, ExactJSON)
    if write_token:
        from imagevec.serve.writes import register_writes

        register_writes(api, service, write_token)
    api.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    body_cap = service.max_upload_bytes * 4 // 3 + 4096  # base64 in JSON is 4/3 larger
    return Gate(api, token=token, allowed_hosts=allowed_hosts, max_body=body_cap)


async def _too_deep(request: Request, exc: Exception) -> Response:
    """FastAPI's 400 for a JSON body it could not parse, with the reason when the body is
    nested deeper than the JSON parser goes (a ``where`` thousands of levels deep)."""
    if isinstance(exc.__cause__, RecursionError):
        return ExactJSON({"detail": "request JSON is nested too deeply"}, status_code=400)
    return await http_exception_handler(request, exc)  # type: ignore[arg-type]


def _handler(status: int) -> Any:
    async def handle(request: Request, exc: Exception) -> Response:
        return ExactJSON({"detail": str(exc)}, status_code=status)

    return handle


class ExactJSON(Response):
    """JSON with ASCII escapes: a file name that is not UTF-8 (a lone surrogate in Python,
    see :mod:`imagevec.store.uris`) travels exactly, as ``imagevec search --json`` prints it."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), allow_nan=False).encode("ascii")


def _picture(image: ImageData) -> Response:
    headers = {"Cache-Control": "private, max-age=3600"}
    return Response(image.data, media_type=image.mime, headers=headers)


def _base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageLoadError("<image>", f"not base64 ({exc})") from exc


def _where(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        where = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"where is not JSON: {exc}") from exc
    except RecursionError:
        raise ConfigError("where is nested too deeply") from None
    if not isinstance(where, dict):
        raise ConfigError("where must be a JSON object")
    return where


async def _read_body(request: Request, cap: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise ImageTooLargeError("<upload>", f"upload over the {cap}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _routes(api: FastAPI, service: QueryService, browsing: Browsing) -> None:
    hits = list[HitOut]

    @api.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-cache"})

    @api.get("/dupes", include_in_schema=False)
    def dupes_page() -> FileResponse:
        return FileResponse(str(STATIC / "dupes.html"), headers={"Cache-Control": "no-cache"})

    def local(photos: _Filter) -> _Filter:
        """The filter with a relative folder name (the page's) made absolute."""
        if photos is None or not photos.folder or os.path.isabs(photos.folder):
            return photos
        return dataclasses.replace(photos, folder=browsing.resolve_folder(photos.folder))

    @api.get("/api/health", tags=["info"])
    def health() -> dict[str, str]:
        """Liveness: ``{"status": "ok"}``."""
        return {"status": "ok"}

    @api.get("/api/info", response_model=InfoOut, tags=["info"])
    def info() -> Response:
        """The served index: store, collection, image count, encoder, folders, indexing."""
        return ExactJSON(service.info())

    @api.get("/api/search", response_model=hits, tags=["search"])
    def search_text(
        q: Annotated[
            str,
            Query(
                min_length=1,
                max_length=1000,
                description="Words, or a combined query: '2:beach + like:<id> - people'.",
            ),
        ],
        filters: Filters,
        k: K = 10,
    ) -> Response:
        """Search by text or by a combined query in :class:`imagevec.Query`'s syntax (parts
        joined by `` + `` / `` - ``, ``N:`` weights, ``like:<id>``); best first, ``score`` =
        cosine similarity."""
        photos = local(filters.photo_filter(_where(filters.where)))
        return ExactJSON(service.search_json(SearchRequest(query=q, k=k, filter=photos)))

    @api.post("/api/search", response_model=hits, tags=["search"])
    def search(body: SearchIn) -> Response:
        """Search by ``text``, ``like`` (an indexed id), ``image`` (base64 / data URI) or a
        combined ``query`` (string syntax, or parts whose images are base64 / data URIs)."""
        image: Any = None
        if body.image is not None:
            image = body.image if body.image.startswith("data:") else _base64(body.image)
        query: Any = body.query
        if isinstance(query, list):
            from imagevec.search.query import Part
            from imagevec.search.query import Query as Combined

            query = Combined(tuple(Part(p.kind, p.value, p.weight) for p in query))
        request = SearchRequest(
            text=body.text,
            image=image,
            like=body.like,
            query=query,
            include_self=body.include_self,
            k=body.k,
            filter=local(body.photo_filter),
        )
        return ExactJSON(service.search_json(request))

    @api.post(
        "/api/search/image",
        response_model=hits,
        tags=["search"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"image/*": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    async def search_image(request: Request, filters: Filters, k: K = 10) -> Response:
        """Search by an uploaded picture: the request body is the image file itself."""
        data = await _read_body(request, service.max_upload_bytes)
        if not data:
            raise ImageLoadError("<upload>", "empty upload (send the image file as the body)")
        from starlette.concurrency import run_in_threadpool

        photos = local(filters.photo_filter(_where(filters.where)))
        asked = SearchRequest(image=data, k=k, filter=photos)
        return ExactJSON(await run_in_threadpool(service.search_json, asked))

    @api.get("/api/items/{item_id}", response_model=RecordOut, tags=["items"])
    def item(item_id: str) -> Response:
        """An indexed image's id, file and metadata."""
        return ExactJSON(service.record(item_id))

    @api.get("/api/items/{item_id}/similar", response_model=hits, tags=["search"])
    def similar(item_id: str, filters: Filters, k: K = 10, include_self: bool = False) -> Response:
        """More like this: the item's stored vector (not re-embedded); the item left out
        unless ``include_self``."""
        photos = local(filters.photo_filter(_where(filters.where)))
        asked = SearchRequest(like=item_id, include_self=include_self, k=k, filter=photos)
        return ExactJSON(service.search_json(asked))

    @api.get("/api/items/{item_id}/thumbnail", tags=["items"], response_class=Response)
    def thumbnail(item_id: str, size: Annotated[int, Query(ge=16, le=512)] = 256) -> Response:
        """A JPEG thumbnail fitting ``size`` x ``size`` (cached on disk by content hash)."""
        return _picture(service.thumbnail(item_id, size))

    @api.get("/api/items/{item_id}/image", tags=["items"], response_class=Response)
    def image(item_id: str, max_size: Annotated[int, Query(ge=16, le=8192)] = 2048) -> Response:
        """The image as JPEG (orientation applied, EXIF stripped), fit in ``max_size``."""
        return _picture(service.image(item_id, max_size))
