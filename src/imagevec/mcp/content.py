"""Tool output for a model: compact JSON text, and pictures as MCP image content.

Results carry what a model needs to reason and to act (rank, id, resource URI, path, score,
size, format and the user's own fields); hashes, byte counts and timestamps are left out.
Pictures are always a re-encoded, resized JPEG as :class:`mcp.types.ImageContent`, never a
whole file as base64 text.

Example:
    >>> text_content({"count": 3}).text
    '{"count":3}'
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from mcp import types

from imagevec.mcp.refs import photo_uri
from imagevec.store.record import BOOKKEEPING, FILENAME, FORMAT, HEIGHT, WIDTH
from imagevec.types import Hit

__all__ = ["KEY_METADATA", "hit_record", "image_content", "text_content"]

#: Stored fields that mean nothing to a model (or are bulky); everything else is shown.
_HIDDEN = BOOKKEEPING
#: Stored fields every record has, shown first.
KEY_METADATA = (FILENAME, WIDTH, HEIGHT, FORMAT)


def text_content(data: Any) -> types.TextContent:
    """``data`` as compact JSON text."""
    return types.TextContent(type="text", text=json.dumps(data, separators=(",", ":")))


def image_content(data: bytes, mime: str) -> types.ImageContent:
    """Encoded image bytes as MCP image content (base64 inside the protocol message)."""
    return types.ImageContent(
        type="image", data=base64.b64encode(data).decode("ascii"), mimeType=mime
    )


def metadata_for_model(metadata: dict[str, Any]) -> dict[str, Any]:
    """The stored metadata without hashes, byte counts and timestamps; key fields first."""
    shown = {key: metadata[key] for key in KEY_METADATA if key in metadata}
    shown.update(
        (key, value)
        for key, value in sorted(metadata.items())
        if key not in _HIDDEN and key not in shown
    )
    return shown


def hit_record(hit: Hit, rank: int) -> dict[str, Any]:
    """One search result: ``{rank, id, resource, uri, score, <metadata>}``."""
    return {
        "rank": rank,
        "id": hit.id,
        "resource": photo_uri(hit.id),
        "uri": hit.uri,
        "score": round(float(hit.score), 4),
        **metadata_for_model(hit.metadata),
    }


def results_payload(query: dict[str, Any], hits: Sequence[Hit]) -> dict[str, Any]:
    """``{query, count, results}`` for a search tool, best first (score = cosine similarity)."""
    return {
        "query": query,
        "count": len(hits),
        "results": [hit_record(hit, rank) for rank, hit in enumerate(hits, 1)],
    }
