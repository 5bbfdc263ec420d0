"""Checks that the stores people already use read a collection imagevec wrote.

Shared by the embedded tests (tests/integrations) and the server ones (tests/slow): LangChain's
own ``Chroma``, LlamaIndex's ``ChromaVectorStore`` and plain chromadb must each see every
record as a document whose text is the image's path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest


def _version(package: str) -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(part) for part in version(package).split(".")[:2] if part.isdigit())


def search_by_image(store: Any, uri: str, k: int) -> list[Any]:
    """``store.similarity_search_by_image(uri=..., k=...)``. langchain-chroma before 1.1 (the
    floor is 0.2.5) passes ``embed_image([uri])`` -- a list of one vector -- as the vector,
    which chromadb 1.x refuses: there, check that upstream bug, then make the call it should."""
    from langchain_chroma import Chroma

    if isinstance(store, Chroma) and _version("langchain-chroma") < (1, 1):
        with pytest.raises(ValueError, match="Expected embeddings"):
            store.similarity_search_by_image(uri=uri, k=k)
        return list(store.similarity_search_by_vector(store.embeddings.embed_image([uri])[0], k=k))
    return list(store.similarity_search_by_image(uri=uri, k=k))


def check_langchain_chroma(client: Any, collection: str, embeddings: Any, photos: Path) -> None:
    """``langchain_chroma.Chroma`` on an imagevec collection: every kind of search finds rows."""
    from langchain_chroma import Chroma

    store = Chroma(collection_name=collection, client=client, embedding_function=embeddings)
    red = str(photos / "red.png")

    by_text = store.similarity_search("red", k=1)
    assert [d.page_content for d in by_text] == [red]
    assert by_text[0].metadata["uri"] == red and by_text[0].id
    blue = str(photos / "blue.png")
    assert search_by_image(store, blue, k=1)[0].page_content == blue
    vector = embeddings.embed_query("green")
    assert Path(store.similarity_search_by_vector(vector, k=1)[0].page_content).stem == "green"
    mmr = store.max_marginal_relevance_search("red", k=2, fetch_k=4)
    assert len(mmr) == 2 and mmr[0].page_content == red
    assert store.as_retriever(search_kwargs={"k": 1}).invoke("red")[0].page_content == red
    assert [d.page_content for d in store.get_by_ids([by_text[0].id])] == [red]


def check_chromadb(client: Any, collection: str) -> None:
    """Plain chromadb: every record has a document, and it is the record's uri."""
    got = client.get_collection(collection).get(include=["documents", "metadatas"])
    assert got["ids"]
    assert got["documents"] == [m["uri"] for m in got["metadatas"]]


def check_llama_index(client: Any, collection: str, encoder: Any) -> None:
    """LlamaIndex's ``ChromaVectorStore``: nodes whose text is the path, with the metadata."""
    from llama_index.core.vector_stores.types import VectorStoreQuery
    from llama_index.vector_stores.chroma import ChromaVectorStore

    store = ChromaVectorStore(chroma_collection=client.get_collection(collection))
    vector = np.asarray(encoder.embed_text("red"), dtype=float).tolist()
    result = store.query(VectorStoreQuery(query_embedding=vector, similarity_top_k=1))
    node = result.nodes[0]
    assert Path(node.get_content()).stem == "red"
    assert node.metadata["uri"] == node.get_content() and result.ids[0] == node.node_id
