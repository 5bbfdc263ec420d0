"""The JSON shapes of the HTTP API (they document it in OpenAPI).

A hit is the ``imagevec search --json`` record: ``{rank, id, uri, score, metadata}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from imagevec.types import PhotoFilter

MAX_TEXT = 1000


class HitOut(BaseModel):
    """One search result; ``score`` is the cosine similarity (higher is better)."""

    rank: int = Field(description="1 for the best match.")
    id: str = Field(description="Record id: use it for thumbnails, images and more-like-this.")
    uri: str = Field(description="The image file's absolute path on the server.")
    score: float = Field(description="Cosine similarity to the query, higher is better.")
    metadata: dict[str, Any] = Field(description="Stored fields: width, height, format, ...")


class RecordOut(BaseModel):
    """An indexed image: its id, file and metadata."""

    id: str
    uri: str
    metadata: dict[str, Any]


class PartIn(BaseModel):
    """One weighted part of a combined query."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["text", "image", "like"]
    value: str = Field(description="The text, the image (base64 / data: URI) or an id.")
    weight: float = Field(default=1.0, description="Negative pushes matches down.")


def filter_fields() -> dict[str, Any]:
    """Pydantic fields for the text filters of :class:`~imagevec.types.PhotoFilter`: one
    optional text per filter, as declared there (help, choices)."""
    fields: dict[str, Any] = {}
    for item in PhotoFilter.options():
        choices = item.metadata["choices"]
        kind: Any = Literal[choices] if choices else str
        fields[item.name] = (
            kind | None,
            Field(default=None, max_length=4096, description=item.metadata["help"]),
        )
    return fields


class _Filters(BaseModel):
    """The filters as query parameters (``where`` as JSON text); see :func:`filter_fields`."""

    where: str | None = Field(default=None, description="Chroma metadata filter as JSON.")

    def photo_filter(self, where: dict[str, Any] | None) -> PhotoFilter:
        """The filters given, with ``where`` parsed by the route."""
        return PhotoFilter(where=where, **self.model_dump(exclude={"where"}))


class _Search(BaseModel):
    """A search: exactly one of ``text``, ``like`` (an indexed id), ``image`` (base64) or
    ``query`` (a combined query: its string syntax, or a list of weighted parts), and the
    filters of :class:`~imagevec.types.PhotoFilter` (``where``, ``folder``, ``since``...)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=MAX_TEXT, description="Words to search.")
    like: str | None = Field(
        default=None, max_length=4096, description="An indexed id (or indexed file path)."
    )
    image: str | None = Field(
        default=None, description="An image as base64 or a data: URI (capped like uploads)."
    )
    query: str | list[PartIn] | None = Field(
        default=None, description='e.g. "2:golden retriever - night", or parts.'
    )
    include_self: bool = Field(default=False, description="Keep the like= items in results.")
    k: int = Field(default=10, ge=1, le=200, description="Number of results.")
    where: dict[str, Any] | None = Field(default=None, description="Chroma metadata filter.")

    @property
    def photo_filter(self) -> PhotoFilter:
        """The filters given."""
        names = ["where", *(item.name for item in PhotoFilter.options())]
        return PhotoFilter(**{name: getattr(self, name) for name in names})


# The request shapes, with one field per PhotoFilter filter (typed as their bases for mypy).
if TYPE_CHECKING:
    FilterQuery = _Filters
    SearchIn = _Search
else:
    FilterQuery = create_model("FilterQuery", __base__=_Filters, **filter_fields())
    SearchIn = create_model("SearchIn", __base__=_Search, **filter_fields())


class InfoOut(BaseModel):
    """What is served: store, collection, image count, encoder, roots, folders, indexing."""

    location: str
    collection: str
    count: int
    encoder: dict[str, Any] | None
    roots: list[str] | None
    folders: list[str]
    indexing: dict[str, Any] | None
