"""``ImagevecRetriever``: a LlamaIndex retriever over an :class:`imagevec.ImageIndex`.

Ask with a text, or with an image: a ``QueryBundle`` with ``image_path``, a ``data:image/...``
URI string, or any image input through :meth:`ImagevecRetriever.retrieve_image`. Results are
``NodeWithScore`` objects holding ``ImageNode``s that point at the file (``image_path``, or
``image_url`` for URLs) with the index's metadata; no image bytes are copied into the nodes.
Scores are cosine similarity, higher is better, exactly as :meth:`imagevec.ImageIndex.search`
returns them.

Example:
    >>> import imagevec
    >>> from llama_index.retrievers.imagevec import ImagevecRetriever
    >>> index = imagevec.ImageIndex("imagevec-db")                              # doctest: +SKIP
    >>> retriever = ImagevecRetriever(index, k=3)                               # doctest: +SKIP
    >>> retriever.retrieve("a cat on a sofa")                                   # doctest: +SKIP
    >>> retriever.retrieve(QueryBundle(query_str="", image_path="cat.jpg"))      # doctest: +SKIP
    >>> retriever.retrieve_image(pil_image)                                     # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks.base import CallbackManager
from llama_index.core.schema import ImageNode, NodeWithScore, QueryBundle

import imagevec

_URL_PREFIXES = ("http://", "https://")
#: Stored fields for change detection and exact paths: kept in the node, hidden from the model.
_BOOKKEEPING = ("sha256", "bytes", "mtime_ns", "path_b64")


def hit_to_node(hit: imagevec.Hit) -> NodeWithScore:
    """One search hit as a ``NodeWithScore`` around an ``ImageNode`` (no image bytes)."""
    location = {"image_url": hit.uri} if hit.uri.startswith(_URL_PREFIXES) else {}
    # The model sees the metadata (a stock RetrieverTool hands it get_content()): the id, to
    # chain the next call (like=id), and the score; not the change-detection bookkeeping.
    metadata = {**hit.metadata, "id": hit.id, "uri": hit.uri, "score": round(hit.score, 4)}
    hidden = [key for key in _BOOKKEEPING if key in metadata]
    node = ImageNode(
        id_=hit.id,
        image_path=None if location else hit.uri,
        metadata=metadata,
        excluded_llm_metadata_keys=hidden,
        excluded_embed_metadata_keys=hidden,
        **location,
    )
    return NodeWithScore(node=node, score=float(hit.score))


class ImagevecRetriever(BaseRetriever):
    """Retrieve images from an :class:`imagevec.ImageIndex` by text or by image.

    Args:
        index: the index to search (its own encoder embeds the queries).
        k: how many results per query.
        where: a Chroma metadata filter applied to every query, e.g. ``{"album": "2024"}``.
        allow_urls: let image queries be ``http(s)`` URLs (off by default).
        callback_manager: LlamaIndex callbacks.

    Example:
        >>> retriever = ImagevecRetriever(index, k=4, where={"album": "2024"})  # doctest: +SKIP
        >>> [(n.node.image_path, n.score) for n in retriever.retrieve("red")]  # doctest: +SKIP
    """

    def __init__(
        self,
        index: imagevec.SearchIndex,
        *,
        k: int = 4,
        where: dict[str, Any] | None = None,
        allow_urls: bool = False,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        """Create the retriever (nothing is loaded until the first query)."""
        if not isinstance(index, imagevec.SearchIndex):
            raise imagevec.ConfigError(
                "ImagevecRetriever needs an imagevec.ImageIndex (or imagevec.connect), got "
                f"{type(index).__name__}"
            )
        if k < 1:
            raise imagevec.ConfigError(f"k must be >= 1, got {k}")
        self.index = index
        self.k = k
        self.where = where
        self.allow_urls = allow_urls
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    # ------------------------------------------------------------------ queries
    def _by_image(self, image: Any) -> list[NodeWithScore]:
        hits = self.index.search(
            image=image,
            k=self.k,
            where=self.where,
            policy=imagevec.SourcePolicy(allow_urls=self.allow_urls),
        )
        return [hit_to_node(hit) for hit in hits]

    def _by_text(self, text: str) -> list[NodeWithScore]:
        hits = self.index.search(text=text, k=self.k, where=self.where)
        return [hit_to_node(hit) for hit in hits]

    def retrieve_image(self, image: Any) -> list[NodeWithScore]:
        """Search by any image input imagevec accepts (path, URL, bytes, data URI, PIL, array).

        Example:
            >>> retriever.retrieve_image("photos/cat.jpg")[0].score            # doctest: +SKIP
            0.93
        """
        if isinstance(image, str):
            return self.retrieve(QueryBundle(query_str="", image_path=image))
        return self._by_image(image)

    def retrieve_like(self, ref: str, *, include_self: bool = False) -> list[NodeWithScore]:
        """More like this: search by an indexed item's stored vector (its id or path).

        Example:
            >>> retriever.retrieve_like("photos/cat.jpg")                      # doctest: +SKIP
        """
        hits = self.index.search(like=ref, k=self.k, where=self.where, include_self=include_self)
        return [hit_to_node(hit) for hit in hits]

    def retrieve_query(self, query: imagevec.Query | str) -> list[NodeWithScore]:
        """Search by a combined, weighted :class:`imagevec.Query` (or a string in its syntax,
        ``"2:golden retriever + ./pool.jpg - night"``).

        Example:
            >>> q = imagevec.Query.text("beach") + imagevec.Query.like("cat.jpg")  # doctest: +SKIP
            >>> retriever.retrieve_query(q)                                      # doctest: +SKIP
        """
        hits = self.index.search(
            query=query,
            k=self.k,
            where=self.where,
            policy=imagevec.SourcePolicy(allow_urls=self.allow_urls),
        )
        return [hit_to_node(hit) for hit in hits]

    async def aretrieve_image(self, image: Any) -> list[NodeWithScore]:
        """Async :meth:`retrieve_image` (runs in a worker thread)."""
        return await asyncio.to_thread(self.retrieve_image, image)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if query_bundle.image_path:
            return self._by_image(query_bundle.image_path)
        query = _tool_input(query_bundle.query_str)
        if query.startswith("data:image/"):
            return self._by_image(query)
        if not query.strip():
            raise imagevec.ConfigError("empty query: give a text or an image (image_path)")
        return self._by_text(query)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)


_TOOL_INPUT = re.compile(r"\s*input is (?P<value>.*?)\s*", re.S)


def _tool_input(query: str) -> str:
    """The query inside LlamaIndex's stock ``RetrieverTool`` wrapping (``"\\ninput is X\\n"``).

    The stock tool turns its arguments into that text; it carries no image, so it is
    searched as text (a data URI still works). For image queries from agents use
    :func:`llama_index.tools.imagevec.create_image_search_tool` with ``path_roots``.
    """
    match = _TOOL_INPUT.fullmatch(query)
    return match["value"] if match else query
