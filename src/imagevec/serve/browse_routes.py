"""HTTP routes for browsing the library without a query (same token/Host rules as the rest).

========================================  ==============================================
``GET  /api/browse?cursor=&limit=&group=``  newest first by date taken: ``{items, next,
                                            total}``; pass ``next`` back as ``cursor``
``GET  /api/facets``                      ``{total, cameras, lenses, years, formats,
                                            folders}``, each ``[{value, count}]``
``GET  /api/calibration?q=|like=``        the score threshold of "good matches"
``GET  /api/dupes?threshold=``            ``imagevec dupes`` groups, keeper first
``GET  /api/items/{id}/original``         the file as stored (a download, EXIF kept)
``GET  /api/dupes/trash``                 ``{enabled}``: may the page move photos to trash
``POST /api/dupes/trash``                 ``{id}``: move that photo to the trash folder
                                            (only with ``imagevec serve --trash DIR``)
========================================  ==============================================

Every list route takes the photo filters ``since``, ``until`` (``YYYY-MM-DD``), ``camera``
and ``lens`` (contains, any case), ``format`` (exact, any case) and ``folder`` (a relative
name from the facets).
The logic lives in :mod:`imagevec.service.browsing`; this module only maps requests.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from imagevec.service.browse import MAX_PAGE, PhotoQuery
from imagevec.service.browsing import Browsing

__all__ = ["add_browse_routes"]

Text = Annotated[str | None, Query(max_length=1000)]


class TrashIn(BaseModel):
    """Which photo to move to the trash folder."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=200, description="The record id of the photo to move.")


def add_browse_routes(api: FastAPI, browsing: Browsing, respond: type[Response]) -> None:
    """Register the browse routes on ``api``; ``respond`` is the app's JSON response class."""

    def filters(
        since: Text, until: Text, camera: Text, lens: Text, folder: Text, format: Text
    ) -> PhotoQuery:
        return PhotoQuery(
            since=since or None,
            until=until or None,
            camera=camera or None,
            lens=lens or None,
            folder=folder or None,
            format=format or None,
        )

    @api.get("/api/browse", tags=["browse"])
    def browse(
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 60,
        group: Annotated[str, Query(pattern="^(day|month)$")] = "day",
        since: Text = None,
        until: Text = None,
        camera: Text = None,
        lens: Text = None,
        folder: Text = None,
        format: Text = None,
    ) -> Response:
        """The library newest first by date taken (EXIF, else file time), ``limit`` at a
        time; each item has ``group`` (its day or month) for headings."""
        query = filters(since, until, camera, lens, folder, format)
        return respond(browsing.page(query, cursor, limit, group))

    @api.get("/api/facets", tags=["browse"])
    def facets(
        since: Text = None,
        until: Text = None,
        camera: Text = None,
        lens: Text = None,
        folder: Text = None,
        format: Text = None,
    ) -> Response:
        """Counts by camera, lens, year, format and folder of the photos matching."""
        return respond(browsing.facets(filters(since, until, camera, lens, folder, format)))

    @api.get("/api/calibration", tags=["browse"])
    def calibration(
        q: Annotated[str | None, Query(max_length=1000)] = None,
        like: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        """The score at or above which a hit of this query is a good match: ``Z`` standard
        deviations above what the query (``q`` text or ``like`` id; neither: random pairs of
        photos) scores against a sample of this collection."""
        return respond(browsing.calibration(text=q, like=like))

    @api.get("/api/dupes", tags=["browse"])
    def dupes(threshold: Annotated[float | None, Query(gt=0, le=1)] = None) -> Response:
        """Groups of near-identical photos, the suggested keeper first with its reason."""
        return respond(browsing.dupes(threshold))

    @api.get("/api/items/{item_id}/original", tags=["items"], response_class=Response)
    def original(item_id: str) -> Response:
        """The photo's file as it is on disk, as a download (EXIF, GPS included: it is the
        original; thumbnails and ``/image`` strip them)."""
        data, mime, name = browsing.original(item_id)
        disposition = f"attachment; filename*=UTF-8''{quote(name, safe='')}"
        return Response(data, media_type=mime, headers={"Content-Disposition": disposition})

    @api.get("/api/dupes/trash", tags=["browse"])
    def trash_state() -> Response:
        """Whether this server lets the duplicates page move photos to a trash folder."""
        return respond({"enabled": browsing.trash_dir is not None})

    @api.post("/api/dupes/trash", tags=["browse"])
    def trash(body: TrashIn) -> Response:
        """Move a photo's file into the trash folder and drop its record (nothing is
        deleted; off unless the server was started with ``--trash DIR``)."""
        return respond(browsing.trash(body.id))
