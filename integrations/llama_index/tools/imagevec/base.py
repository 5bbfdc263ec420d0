"""``create_image_search_tool``: an :class:`imagevec.ImageIndex` as a LlamaIndex agent tool.

The tool takes a text description or a combined, weighted query in :class:`imagevec.Query`'s
syntax (``"2:golden retriever + like:<id> - night"``), and, when you allow it, an example
image. It returns a JSON list of ``{"rank", "id", "uri", "score", "metadata"}``
(:func:`imagevec.hits_to_json` with ``brief=True``, as the LangChain tools; score = cosine
similarity, higher is better). An example image that is an indexed photo (a result's id or
uri) is searched by its stored vector (no re-embedding, the file may be gone) and left out
of the results; any other picture chosen by the model is read only under the ``path_roots``
you give (or fetched with ``allow_urls=True``); with neither, the tool has no ``image``
argument. ``ToolOutput.raw_output`` is that list; ``ToolOutput.content`` is its JSON text, so
the model reads real JSON instead of a Python repr.

Example:
    >>> import imagevec
    >>> from llama_index.core.agent.workflow import FunctionAgent
    >>> from llama_index.tools.imagevec import create_image_search_tool
    >>> tool = create_image_search_tool(imagevec.ImageIndex("imagevec-db"))      # doctest: +SKIP
    >>> tool.call(query="a cat on a sofa").content                              # doctest: +SKIP
    '[{"rank": 1, "id": "...", "uri": "/photos/cat.jpg", "score": 0.41, "metadata": {...}}]'
    >>> agent = FunctionAgent(tools=[tool], llm=llm)                           # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from typing import Any

from llama_index.core.tools import FunctionTool

import imagevec

#: Results when the agent does not ask for a number (the LangChain tools' default too).
DEFAULT_K = 4

DEFAULT_DESCRIPTION = (
    "Search a collection of photos by describing what is in them (objects, scenes, "
    "colours), e.g. 'a cat on a sofa'. Returns a JSON list of the best matches, best first: "
    "rank, uri (the image file), score (cosine similarity, higher is more similar; scores "
    "are only comparable within one search) and metadata (file name, size, your fields). "
    + imagevec.Query.SYNTAX
)
IMAGE_DESCRIPTION = (
    " To find photos that look like a given picture, pass its id, path or URL as `image` "
    "instead of `query`; an indexed photo is matched by its stored vector and left out."
)


def create_image_search_tool(
    index: imagevec.SearchIndex,
    *,
    k: int = DEFAULT_K,
    max_k: int = imagevec.TOOL_MAX_K,
    where: dict[str, Any] | None = None,
    name: str = "image_search",
    description: str | None = None,
    path_roots: Sequence[str | os.PathLike[str]] | None = None,
    allow_urls: bool = False,
) -> FunctionTool:
    """Wrap an image index as a ``FunctionTool`` for LlamaIndex agents.

    Args:
        index: the :class:`imagevec.ImageIndex` to search (or :func:`imagevec.connect`).
        k: results when the agent does not ask for a number.
        max_k: the most results one call may ask for; a larger ``k`` is an error the model
            reads (as in the LangChain tools and the MCP server), never silently clamped.
        where: a Chroma metadata filter applied to every search.
        name: the tool name the model sees.
        description: override the description the model sees.
        path_roots: folders an example image chosen by the model may be read from. With
            neither this nor ``allow_urls`` the tool searches by text only: the agent's
            input is untrusted and could otherwise make the tool read any local file.
        allow_urls: let the model pass an http(s) image URL (fetched with the SSRF guard).

    Returns:
        A ``FunctionTool`` (sync and async) whose output is a JSON list of hits.
    """
    if not isinstance(index, imagevec.SearchIndex):
        raise imagevec.ConfigError(
            f"need an imagevec.ImageIndex (or imagevec.connect), got {type(index).__name__}"
        )
    policy = imagevec.SourcePolicy.for_agent(path_roots, allow_urls=allow_urls)
    takes_images = bool(path_roots or allow_urls)

    def run(query: str | None, image: str | None, count: int) -> list[dict[str, Any]]:
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= max_k:
            raise imagevec.ConfigError(f"k must be between 1 and {max_k}, got {count!r}")
        if image:
            hits = _similar(index, image, count, where, policy)
        elif query and query.strip():
            hits = index.search(query=query, k=count, where=where, policy=policy)
        else:
            raise imagevec.ConfigError("give a text `query` describing the photos")
        return imagevec.hits_to_json(hits, brief=True)

    if not takes_images:

        def image_search(query: str, k: int = k) -> list[dict[str, Any]]:
            """Search photos by a text description (or a combined query, see above).

            Args:
                query: what the photos show, in words, e.g. 'a red car at night'.
                k: how many photos to return.
            """
            return run(query, None, k)

        text = description or DEFAULT_DESCRIPTION
    else:

        def image_search(  # type: ignore[misc]
            query: str = "", image: str | None = None, k: int = k
        ) -> list[dict[str, Any]]:
            """Search photos by a text description (or a combined query) or by an example image.

            Args:
                query: what the photos show, in words, e.g. 'a red car at night'.
                image: id, path or URL of an example picture, to find photos like it.
                k: how many photos to return.
            """
            return run(query, image, k)

        text = description or DEFAULT_DESCRIPTION + IMAGE_DESCRIPTION

    async def aimage_search(**kwargs: Any) -> list[dict[str, Any]]:
        return await asyncio.to_thread(image_search, **kwargs)

    async def ajson(output: list[dict[str, Any]]) -> str:
        return json.dumps(output)

    return FunctionTool.from_defaults(
        fn=image_search,
        async_fn=aimage_search,
        name=name,
        description=text,
        callback=json.dumps,
        async_callback=ajson,
    )


def _similar(
    index: imagevec.SearchIndex,
    image: str,
    k: int,
    where: dict[str, Any] | None,
    policy: imagevec.SourcePolicy,
) -> list[imagevec.Hit]:
    """Photos like ``image``: an indexed photo by its stored vector (left out of its
    results), any other picture read under ``policy``."""
    if not image.startswith(("data:", "http://", "https://")) and len(image) < 4096:
        ref = image[len("file://") :] if image.startswith("file://") else image
        try:
            return index.search(like=ref, k=k, where=where)
        except imagevec.NotIndexedError:
            pass
    return index.search(image=image, k=k, where=where, policy=policy)
