"""What text queries are good for, per encoder: one piece of advice for every surface.

``imagevec info``, the web page, the HTTP API and the MCP server's ``describe_photo_index``
all tell users (and models) how to write text queries for the index in front of them; the
answer depends on the encoder, because what a text query can find does: the bundled default
bridges text to images through ImageNet class names (ConSE), CLIP reads free descriptions,
image-only encoders cannot search by text at all.

Example:
    >>> text_search_advice({"model": "default", "modalities": "image,text"})[:32]
    'Name the main object or scene in'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["modalities", "text_search_advice"]

_DEFAULT = (
    "Name the main object or scene in a few words ('a cat', 'a coffee cup', 'a motorcycle', "
    "'a brick wall'). This encoder links text to pictures through the 1000 ImageNet object "
    "categories, so nouns for everyday objects, animals, vehicles, food and places work "
    "best, and so do broader words ('an animal', 'a vehicle', 'a drink'). Things outside "
    "those categories (the moon, coins, galaxies) are not found; colours, counts, text "
    "written in the picture, people's names, dates and relations between objects ('a dog "
    "left of a car') are not understood. Scores are small (0.1-0.35): rank by them, do not "
    "threshold them. Use metadata filters for dates or folders, and an example photo for "
    "'more like this one'."
)
_CLIP = (
    "Describe the picture in natural language, as a caption would ('a dog running on a "
    "beach at sunset', 'a black and white portrait'). Scenes, styles, colours and many "
    "objects work; exact counts, small text and people's identities are unreliable."
)
_IMAGE_ONLY = (
    "This encoder embeds images only: searching by text is not available. Search with an "
    "example picture instead (an indexed photo's id, a file, or a data URI)."
)
_OTHER = (
    "Describe what the photo shows in a few words. Try a couple of phrasings and compare "
    "scores: they are cosine similarities, only comparable within one query."
)


def modalities(encoder: Mapping[str, Any] | None) -> list[str]:
    """The encoder's modalities (stamped as ``"image,text"``); both when unknown."""
    value = (encoder or {}).get("modalities") or "image,text"
    parts = value.split(",") if isinstance(value, str) else list(value)
    return sorted(str(part).strip() for part in parts if str(part).strip())


def text_search_advice(encoder: Mapping[str, Any] | None) -> str:
    """How to write text queries for this encoder (its stamp fields: model, modalities...)."""
    if not encoder:
        return _OTHER
    if "text" not in modalities(encoder):
        return _IMAGE_ONLY
    model = str(encoder.get("model") or encoder.get("name") or "").lower()
    if model == "default":
        return _DEFAULT
    if "clip" in model or "siglip" in model:
        return _CLIP
    return _OTHER
