"""The JSON shapes of the HTTP API (they document it in OpenAPI).

A hit is the ``imagevec search --json`` record: ``{rank, id, uri, score, metadata}``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class SearchIn(BaseModel):
    """A search: exactly one of ``text``, ``like`` (an indexed id) or ``image`` (base64)."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=MAX_TEXT, description="Words to search.")
    like: str | None = Field(default=None, max_length=64, description="An indexed id.")
    image: str | None = Field(
        default=None, description="An image as base64 or a data: URI (capped like uploads)."
    )
    k: int = Field(default=10, ge=1, le=200, description="Number of results.")
    where: dict[str, Any] | None = Field(default=None, description="Chroma metadata filter.")
    folder: str | None = Field(default=None, description="Only images under this folder.")


class InfoOut(BaseModel):
    """What is served: store, collection, image count, encoder, roots, folders, indexing."""

    location: str
    collection: str
    count: int
    encoder: dict[str, Any] | None
    roots: list[str] | None
    folders: list[str]
    indexing: dict[str, Any] | None
