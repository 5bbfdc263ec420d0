"""Agent tools over an :class:`imagevec.ImageIndex`: find images by words, or by another image.

Both tools return compact JSON, a list best first of ``{"rank", "id", "uri", "score",
"metadata"}`` (:func:`imagevec.hits_to_json` with ``brief=True``, as the LlamaIndex tool; score
= cosine similarity) that a model reads easily and can pass on (an ``id`` or ``uri`` from one
call is a valid ``image`` for the similar-image tool). The search tool takes the combined,
weighted query syntax of :class:`imagevec.Query` (``"2:golden retriever + like:<id> -
night"``). The similar-image tool searches by an indexed photo's stored vector (``like``: no
re-embedding, the file may be gone) and leaves it out of its results; any other picture is
read, like every image part chosen by a model, only under the ``path_roots`` it is given
(none by default). Failures -- a missing file, a refused URL, a bad argument -- come back as
``{"error": "..."}`` tool messages (``status="error"``), never as exceptions that end the
agent run.

Example:
    >>> import imagevec
    >>> from langchain_imagevec import create_image_search_tool, create_similar_image_tool
    >>> index = imagevec.ImageIndex("imagevec-db", collection="photos")    # doctest: +SKIP
    >>> search = create_image_search_tool(index)                            # doctest: +SKIP
    >>> tools = [search, create_similar_image_tool(index)]                  # doctest: +SKIP
    >>> agent_model = chat_model.bind_tools(tools)                          # doctest: +SKIP
    >>> tools[0].invoke({"query": "a red car", "k": 3})                     # doctest: +SKIP
    '[{"rank":1,"id":"...","uri":"/home/me/photos/car.jpg","score":0.4123,"metadata":{...}}]'
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field, ValidationError

import imagevec

__all__ = [
    "ImageSearchInput",
    "SimilarImageInput",
    "create_image_search_tool",
    "create_similar_image_tool",
]

MAX_K = imagevec.TOOL_MAX_K  # one limit for every agent tool: a larger k is an error
#: Results when the model does not ask for a number (the LlamaIndex tool's default too).
DEFAULT_K = 4


class ImageSearchInput(BaseModel):
    """Arguments of the image search tool."""

    query: str = Field(
        description="What the images should show, in plain words, e.g. 'a red car at night'. "
        + imagevec.Query.SYNTAX
    )
    k: int = Field(
        default=DEFAULT_K, ge=1, le=MAX_K, description=f"How many images to return (1-{MAX_K})."
    )


class SimilarImageInput(BaseModel):
    """Arguments of the similar-image tool."""

    image: str = Field(
        description=(
            "The image to match: the 'id' or 'uri' of an earlier result (best: uses its "
            "stored vector), another file path, or a data:image/...;base64 URI."
        )
    )
    k: int = Field(
        default=DEFAULT_K, ge=1, le=MAX_K, description=f"How many images to return (1-{MAX_K})."
    )


def _results(hits: Sequence[Any], threshold: float | None) -> str:
    kept = [h for h in hits if threshold is None or h.score >= threshold]
    rows = imagevec.hits_to_json(kept, brief=True)
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False, default=str)


def _error(message: str) -> str:
    return json.dumps({"error": message}, ensure_ascii=False)


def _handle_validation_error(exc: ValidationError) -> str:
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return _error(f"invalid arguments: {problems}")


def _handle_tool_error(exc: ToolException) -> str:
    return str(exc)


def _guarded(search: Callable[..., str]) -> Callable[..., str]:
    def run(**kwargs: Any) -> str:
        try:
            return search(**kwargs)
        except imagevec.ImagevecError as exc:
            raise ToolException(_error(str(exc))) from exc

    return run


def _make_tool(
    run: Callable[..., str], name: str, description: str, schema: type[BaseModel]
) -> BaseTool:
    return StructuredTool.from_function(
        func=_guarded(run),
        name=name,
        description=description,
        args_schema=schema,
        handle_tool_error=_handle_tool_error,
        handle_validation_error=_handle_validation_error,
    )


def create_image_search_tool(
    index: Any,
    *,
    name: str = "image_search",
    description: str | None = None,
    where: dict[str, Any] | None = None,
    score_threshold: float | None = None,
    allow_urls: bool = False,
    path_roots: Sequence[str | os.PathLike[str]] | None = None,
) -> BaseTool:
    """A tool that finds images in ``index`` matching a text description or a combined query.

    The query is a string in :class:`imagevec.Query`'s syntax: plain words, or weighted
    parts joined by `` + `` / `` - `` (``"2:beach + like:<id> - people"``). ``like:`` parts
    use an indexed photo's stored vector (its id or path); ``image:`` parts are read under
    :meth:`imagevec.SourcePolicy.for_agent` (``path_roots``, ``allow_urls``; data URIs
    always).

    Args:
        index: an :class:`imagevec.ImageIndex`, or a served index (:func:`imagevec.connect`).
        name: the tool name the model sees.
        description: what the model is told the tool does (a sensible default otherwise).
        where: a fixed Chroma metadata filter (e.g. ``{"album": "2024"}``).
        score_threshold: leave out results below this cosine similarity.
        allow_urls: let ``image:`` parts fetch http(s) URLs.
        path_roots: folders an ``image:`` part's file may be read from.

    Example:
        >>> tool = create_image_search_tool(index, where={"user": "ada"})  # doctest: +SKIP
        >>> tool.invoke({"query": "a cat - 0.5:indoors"})                   # doctest: +SKIP
    """
    _check_index(index)
    policy = imagevec.SourcePolicy.for_agent(path_roots, allow_urls=allow_urls)

    def search(query: str, k: int = DEFAULT_K) -> str:
        hits = index.search(query=query, k=k, where=where, policy=policy)
        return _results(hits, score_threshold)

    description = description or (
        "Search the user's photo collection by describing what the images show. Returns JSON "
        "with the best matches: id, uri (the image file), score (similarity, higher is "
        "better) and metadata. " + imagevec.Query.SYNTAX
    )
    return _make_tool(search, name, description, ImageSearchInput)


def create_similar_image_tool(
    index: Any,
    *,
    name: str = "similar_images",
    description: str | None = None,
    where: dict[str, Any] | None = None,
    score_threshold: float | None = None,
    allow_urls: bool = False,
    path_roots: Sequence[str | os.PathLike[str]] | None = None,
) -> BaseTool:
    """A tool that finds images in ``index`` that look like a given image.

    An indexed photo (a result's id or uri, or any indexed path) is searched by its stored
    vector (``like``: nothing is re-embedded, its file may be gone, no file is read) and is
    left out of its own results. Any other image argument comes from a model, so it is read
    under
    :meth:`imagevec.SourcePolicy.for_agent`: local files only under ``path_roots`` (none by
    default: pass the folders of your photos to allow them), URLs only with
    ``allow_urls=True``; data URIs always work.

    Args:
        index: an :class:`imagevec.ImageIndex`, or a served index (:func:`imagevec.connect`).
        name: the tool name the model sees.
        description: what the model is told the tool does.
        where: a fixed Chroma metadata filter.
        score_threshold: leave out results below this cosine similarity.
        allow_urls: fetch http(s) image URLs.
        path_roots: folders a model-chosen image file may be read from.

    Example:
        >>> tool = create_similar_image_tool(index, path_roots=["/srv/photos"])  # doctest: +SKIP
        >>> tool.invoke({"image": "/srv/photos/cat.jpg", "k": 3})                 # doctest: +SKIP
    """
    _check_index(index)
    policy = imagevec.SourcePolicy.for_agent(path_roots, allow_urls=allow_urls)

    def search(image: str, k: int = DEFAULT_K) -> str:
        ref = _indexed_ref(image)
        if ref is not None:
            try:  # an indexed photo: its stored vector, itself left out
                return _results(index.search(like=ref, k=k, where=where), score_threshold)
            except imagevec.NotIndexedError:
                pass
        hits = index.search(image=image, k=k + 1, where=where, policy=policy)
        itself = _as_file_uri(image)  # a photo is not its own "similar" photo
        return _results([hit for hit in hits if hit.uri != itself][:k], score_threshold)

    description = description or (
        "Find photos in the user's collection that look like a given image (the id or uri "
        "of an earlier result, another path, or a data URI). An indexed photo is matched by "
        "its stored vector and left out of the results. Returns JSON with id, uri, score "
        "(similarity, higher is better) and metadata."
    )
    return _make_tool(search, name, description, SimilarImageInput)


def _indexed_ref(image: str) -> str | None:
    """What may name an indexed photo (an id or a path, ``file://`` dropped), else None."""
    if not isinstance(image, str) or image.startswith(("data:", "http://", "https://")):
        return None
    ref = image[len("file://") :] if image.startswith("file://") else image
    return ref if ref.strip() and len(ref) < 4096 else None


def _as_file_uri(image: str) -> str | None:
    """The absolute path an image argument names (the form hits carry), or None."""
    if not isinstance(image, str) or image.startswith(("data:", "http://", "https://")):
        return None
    path = image[len("file://") :] if image.startswith("file://") else image
    return os.path.abspath(os.path.expanduser(path)) if len(path) < 4096 else None


def _check_index(index: Any) -> None:
    if not isinstance(index, imagevec.SearchIndex):
        raise TypeError(
            "index must be an imagevec.ImageIndex or imagevec.connect(url), "
            f"got {type(index).__name__}"
        )
