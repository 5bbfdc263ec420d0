"""What ``describe_photo_index`` tells a model: the index, and how to query it well.

The advice depends on the encoder, because what a text query can find does: the bundled
default bridges text to images through ImageNet class names (ConSE), CLIP reads free
descriptions, image-only encoders cannot search by text at all.

Example:
    >>> text_search_advice({"model": "default", "modalities": "image,text"})[:32]
    'Name the main object or scene in'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from imagevec.encoders.advice import modalities, text_search_advice
from imagevec.mcp.content import KEY_METADATA, metadata_for_model

__all__ = ["describe_index", "metadata_fields", "modalities", "text_search_advice"]


def metadata_fields(records: Iterable[dict[str, Any]]) -> list[str]:
    """The metadata fields a filter can use, as seen on the given records; key fields first."""
    seen: dict[str, None] = {}
    for record in records:
        for key in metadata_for_model(dict(record.get("metadata") or {})):
            seen.setdefault(key, None)
    fields = [key for key in KEY_METADATA if key in seen]
    return fields + sorted(key for key in seen if key not in KEY_METADATA)


def describe_index(
    info: dict[str, Any], sample: Iterable[dict[str, Any]], limits: dict[str, Any]
) -> dict[str, Any]:
    """The ``describe_photo_index`` payload from the service's ``info()`` and a few records."""
    encoder = info.get("encoder") or {}
    kinds = modalities(encoder)
    return {
        "collection": info.get("collection"),
        "photos": info.get("count"),
        "encoder": {
            **{key: encoder.get(key) for key in ("model", "name", "dim") if key in encoder},
            "modalities": kinds,
        },
        "text_search": text_search_advice(encoder or None),
        "text_search_available": "text" in kinds,
        "similar_search": "find_similar_photos takes a result's id (fast: its stored vector), "
        "a file under the photo folders or a data URI.",
        "scores": "cosine similarity, higher is better; compare within one query only",
        "metadata_fields": metadata_fields(sample),
        "folders": list(info.get("folders") or [])[:20],
        "photo_folders_readable": info.get("roots"),
        "photo_resource": "imagevec://photo/{id} (a JPEG, resized)",
        "limits": limits,
    }
