"""The tools' arguments: one pydantic model per tool, whose JSON schema the model sees.

Descriptions are written for a language model choosing and filling in a tool call. Parsing
turns any bad argument into a :class:`~imagevec.errors.ConfigError` that names it, which
the server returns as a tool error (the model reads it and can correct the call).

Example:
    >>> parse(SearchArgs, {"query": "a cat", "k": 3}).k
    3
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from imagevec.errors import ConfigError
from imagevec.types import TOOL_MAX_K, PhotoFilter

__all__ = [
    "DescribeArgs",
    "GetPhotoArgs",
    "SearchArgs",
    "SimilarArgs",
    "parse",
]

M = TypeVar("M", bound=BaseModel)
MAX_K = TOOL_MAX_K  # one limit for every agent tool (imagevec.types)
MAX_QUERY_CHARS = 1000

_K = Annotated[
    int,
    Field(ge=1, le=MAX_K, description=f"How many photos to return, best first (1-{MAX_K})."),
]


def _json_object(value: Any) -> Any:
    """Some models send an object argument as JSON text: accept that too."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value  # reported as "not a valid dictionary"
        except RecursionError:
            raise ValueError("nested too deeply") from None
    return value


_WHERE = Annotated[
    dict[str, Any] | None,
    BeforeValidator(_json_object),
    Field(
        description="Optional metadata filter (Chroma syntax) on the stored fields, e.g. "
        '{"format": "PNG"}, {"width": {"$gte": 2000}}, {"album": "2024"} for a field added '
        'at indexing time, or {"$and": [...]}. describe_photo_index lists the fields.'
    ),
]
_FOLDER = Annotated[
    str | None,
    Field(
        max_length=4096,
        description="Optional folder: keep only photos whose file lies in it or below it.",
    ),
]
_THUMBNAILS = Annotated[
    bool,
    Field(
        description="Also return a small thumbnail of each of the first results as an image, "
        "to look at them. Leave false when the file names and scores are enough."
    ),
]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Filtered(_Args):
    """The filters every search tool takes: ``where``, ``folder`` and the other
    :class:`~imagevec.types.PhotoFilter` filters (:func:`_with_filters` adds them)."""

    where: _WHERE = None
    folder: _FOLDER = None

    def photo_filter(self) -> PhotoFilter:
        """The filters given."""
        names = ["where", *(item.name for item in PhotoFilter.options())]
        return PhotoFilter(**{name: getattr(self, name) for name in names})


def _with_filters(model: type[M]) -> type[M]:
    """``model`` with one optional argument per PhotoFilter filter it does not declare
    (``since``, ``until``, ``camera``...), described as declared there."""
    fields: dict[str, Any] = {}
    for item in PhotoFilter.options():
        if item.name not in model.model_fields:
            choices = item.metadata["choices"]
            kind: Any = Literal[choices] if choices else str
            help = item.metadata["help"].replace(item.metadata["metavar"], "this")
            fields[item.name] = (kind | None, Field(default=None, max_length=200, description=help))
    return create_model(model.__name__, __base__=model, __doc__=model.__doc__, **fields)


class _SearchArgs(_Filtered):
    """Arguments of ``search_photos``."""

    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="What the photo shows, in a few words (e.g. 'a cat on a sofa', "
        "'a red car'), or a combined query such as '2:beach + like:<a result's id> - people' "
        "(an image: part is a file under the photo folders). describe_photo_index says which "
        "kinds of query this index answers well.",
    )
    k: _K = 8
    thumbnails: _THUMBNAILS = False


class _SimilarArgs(_Filtered):
    """Arguments of ``find_similar_photos``."""

    image: str = Field(
        min_length=1,
        description="The example picture: the 'id' of a search result (best: uses its stored "
        "vector), its resource URI imagevec://photo/<id>, the path of a file under the "
        "server's photo folders, or a data URI 'data:image/jpeg;base64,...'.",
    )
    k: _K = 8
    thumbnails: _THUMBNAILS = False


if TYPE_CHECKING:
    SearchArgs = _SearchArgs
    SimilarArgs = _SimilarArgs
else:
    SearchArgs = _with_filters(_SearchArgs)
    SimilarArgs = _with_filters(_SimilarArgs)


class GetPhotoArgs(_Args):
    """Arguments of ``get_photo``."""

    id: str = Field(
        min_length=1,
        max_length=4096,
        description="The photo: the 'id' of a search result, or its resource URI "
        "imagevec://photo/<id>.",
    )
    max_size: int = Field(
        default=768,
        ge=64,
        le=4096,
        description="Longest side of the returned picture in pixels; the server caps it "
        "(1024 unless configured). Larger shows more detail and costs more tokens.",
    )


class DescribeArgs(_Args):
    """``describe_photo_index`` takes no arguments."""


def parse(model: type[M], arguments: dict[str, Any] | None) -> M:
    """Validate a tool call's arguments.

    Raises:
        ConfigError: one line per bad argument, naming it.
    """
    try:
        return model.model_validate(arguments or {})
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name = ".".join(str(part) for part in error["loc"]) or "arguments"
            problems.append(f"{name}: {error['msg']}")
        raise ConfigError("invalid arguments: " + "; ".join(problems)) from None
