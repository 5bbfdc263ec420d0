"""``create_image_search_tool``: an :class:`imagevec.ImageIndex` as a LlamaIndex agent tool.

The tool takes a text description (and, when you allow it, an example image) and returns a
JSON list of ``{"rank", "uri", "score", "metadata"}`` (score = cosine similarity, higher is
better). ``ToolOutput.raw_output`` is that list; ``ToolOutput.content`` is its JSON text, so
the model reads real JSON instead of a Python repr.

Example:
    >>> import imagevec
    >>> from llama_index.core.agent.workflow import FunctionAgent
    >>> from llama_index.embeddings.imagevec import create_image_search_tool
    >>> tool = create_image_search_tool(imagevec.ImageIndex("imagevec-db"))      # doctest: +SKIP
    >>> tool.call(query="a cat on a sofa").content                              # doctest: +SKIP
    '[{"rank": 1, "uri": "/photos/cat.jpg", "score": 0.41, "metadata": {...}}]'
    >>> agent = FunctionAgent(tools=[tool], llm=llm)                           # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from llama_index.core.tools import FunctionTool

import imagevec

#: Bookkeeping fields of the index that only cost the model tokens.
_HIDDEN = frozenset({"sha256", "mtime_ns", "bytes"})

DEFAULT_DESCRIPTION = (
    "Search a collection of photos by describing what is in them (objects, scenes, "
    "colours), e.g. 'a cat on a sofa'. Returns a JSON list of the best matches, best first: "
    "rank, uri (the image file), score (cosine similarity, higher is more similar; scores "
    "are only comparable within one search) and metadata (file name, size, your fields)."
)
IMAGE_DESCRIPTION = (
    " To find photos that look like a given picture, pass its path or URL as `image` "
    "instead of `query`."
)


def _rows(hits: list[imagevec.Hit]) -> list[dict[str, Any]]:
    return [
        {
            "rank": rank,
            "uri": hit.uri,
            "score": round(float(hit.score), 4),
            "metadata": {k: v for k, v in hit.metadata.items() if k not in _HIDDEN},
        }
        for rank, hit in enumerate(hits, start=1)
    ]


def create_image_search_tool(
    index: imagevec.SearchIndex,
    *,
    k: int = 5,
    max_k: int = 20,
    where: dict[str, Any] | None = None,
    name: str = "image_search",
    description: str | None = None,
    image_policy: imagevec.SourcePolicy | None = None,
) -> FunctionTool:
    """Wrap an image index as a ``FunctionTool`` for LlamaIndex agents.

    Args:
        index: the :class:`imagevec.ImageIndex` to search.
        k: results when the agent does not ask for a number.
        max_k: the most results one call may return.
        where: a Chroma metadata filter applied to every search.
        name: the tool name the model sees.
        description: override the description the model sees.
        image_policy: allow searching by an example image, read under this
            :class:`imagevec.SourcePolicy` (e.g. ``SourcePolicy(allow_paths=True,
            path_roots=("uploads",))``). Off by default: the agent's input is untrusted and
            could otherwise make the tool read any local file.

    Returns:
        A ``FunctionTool`` (sync and async) whose output is a JSON list of hits.
    """
    if not isinstance(index, imagevec.SearchIndex):
        raise imagevec.ConfigError(
            f"need an imagevec.ImageIndex (or imagevec.connect), got {type(index).__name__}"
        )

    def run(query: str | None, image: str | None, count: int) -> list[dict[str, Any]]:
        count = max(1, min(int(count), max_k))
        if image:
            hits = index.search(image=image, k=count, where=where, policy=image_policy)
        elif query and query.strip():
            hits = index.search(text=query, k=count, where=where)
        else:
            raise imagevec.ConfigError("give a text `query` describing the photos")
        return _rows(hits)

    if image_policy is None:

        def image_search(query: str, k: int = k) -> list[dict[str, Any]]:
            """Search photos by a text description.

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
            """Search photos by a text description or by an example image.

            Args:
                query: what the photos show, in words, e.g. 'a red car at night'.
                image: path or URL of an example picture, to find photos that look like it.
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
