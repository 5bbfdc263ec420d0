"""Contract tests, run for real: ImagevecEmbeddings inside the Chroma stores people use.

They also pin what upstream does today, so the README stays true:

* documents are the base64 of the file (``add_images`` reads the path itself);
* ``add_images`` only takes file paths (its base64 step opens ``uri`` as a path);
* ``langchain_chroma.Chroma.similarity_search_by_image_with_relevance_score`` passes a nested
  list to Chroma and fails; the ``_by_vector_`` call with ``embed_image([img])[0]`` works;
* the ``*_by_image_with_relevance_score`` methods return raw Chroma *distances* (lower is
  better), while ``similarity_search_with_relevance_scores`` returns ``1 - distance`` (cosine
  similarity in cosine space; ``1 - d/sqrt(2)`` of the *squared* L2 distance in the default
  l2 space, which goes negative).
"""

from __future__ import annotations

import base64
import math
import uuid
import warnings
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest
from chromadb.config import Settings
from langchain_chroma import Chroma
from tests.support.neighbours import search_by_image

from langchain_imagevec import ImagevecEmbeddings, unit_relevance

COSINE = {"hnsw:space": "cosine"}


def community_chroma(**kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langchain_community.vectorstores import Chroma as CommunityChroma

        return CommunityChroma(**kwargs)


@pytest.fixture
def client(tmp_path: Path) -> Any:
    return chromadb.PersistentClient(
        path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False)
    )


def make_store(kind: str, client: Any, emb: ImagevecEmbeddings, space: dict | None) -> Any:
    name = f"imgs-{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = {"collection_name": name, "embedding_function": emb}
    options |= {"client": client, "collection_metadata": space}
    return Chroma(**options) if kind == "langchain_chroma" else community_chroma(**options)


def cosine(emb: ImagevecEmbeddings, query: str, paths: list[str]) -> np.ndarray:
    return np.array(emb.embed_image(paths)) @ np.array(emb.embed_query(query))


@pytest.mark.parametrize("kind", ["langchain_chroma", "community"])
def test_add_images_and_search_by_image_and_text(
    kind: str, client: Any, colour_embeddings: ImagevecEmbeddings, colour_paths: list[str]
) -> None:
    store = make_store(kind, client, colour_embeddings, COSINE)
    metadatas = [{"colour": c} for c in ("red", "green", "blue")]
    ids = store.add_images(uris=colour_paths, metadatas=metadatas)
    assert len(ids) == 3

    by_image = search_by_image(store, colour_paths[2], k=2)
    assert by_image[0].metadata["colour"] == "blue"
    # What upstream stores: the whole file as base64 in page_content.
    assert by_image[0].page_content == base64.b64encode(Path(colour_paths[2]).read_bytes()).decode()

    retriever = store.as_retriever(search_kwargs={"k": 1})
    assert retriever.invoke("something red")[0].metadata == {"colour": "red"}
    filtered = store.similarity_search("red", k=3, filter={"colour": "green"})
    assert [d.metadata["colour"] for d in filtered] == ["green"]

    # In cosine space, relevance scores are cosine similarities (LangChain warns when < 0).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scored = store.similarity_search_with_relevance_scores("red", k=3)
    sims = cosine(colour_embeddings, "red", colour_paths)
    expected = dict(zip(("red", "green", "blue"), sims, strict=True))
    for doc, score in scored:
        assert score == pytest.approx(expected[doc.metadata["colour"]], abs=1e-4)


@pytest.mark.parametrize("kind", ["langchain_chroma", "community"])
def test_default_l2_space_scores_are_not_cosine(
    kind: str, client: Any, colour_embeddings: ImagevecEmbeddings, colour_paths: list[str]
) -> None:
    store = make_store(kind, client, colour_embeddings, None)
    store.add_images(uris=colour_paths, metadatas=[{"i": i} for i in range(3)])
    sims = cosine(colour_embeddings, "red", colour_paths)
    with pytest.warns(UserWarning, match="Relevance scores must be between 0 and 1"):
        scored = store.similarity_search_with_relevance_scores("red", k=3)
    for doc, score in scored:
        squared_l2 = 2.0 - 2.0 * sims[doc.metadata["i"]]
        assert score == pytest.approx(1.0 - squared_l2 / math.sqrt(2), abs=1e-4)
    assert min(score for _, score in scored) < 0


def test_langchain_chroma_by_image_with_relevance_score_nested_list_bug(
    client: Any, colour_embeddings: ImagevecEmbeddings, colour_paths: list[str]
) -> None:
    store = make_store("langchain_chroma", client, colour_embeddings, COSINE)
    store.add_images(uris=colour_paths, metadatas=[{"i": i} for i in range(3)])
    # Upstream bug: it passes embed_image([uri]) -- a list of one vector -- as one vector.
    with pytest.raises(ValueError, match="Expected embeddings"):
        store.similarity_search_by_image_with_relevance_score(uri=colour_paths[0], k=3)
    # Our path: one vector per image from embed_image; any image input (here a PIL image).
    from PIL import Image

    query = colour_embeddings.embed_image([Image.open(colour_paths[0])])[0]
    hits = store.similarity_search_by_vector_with_relevance_scores(query, k=3)
    assert hits[0][0].metadata == {"i": 0}
    assert hits[0][1] == pytest.approx(0.0, abs=1e-4)  # a distance, not a relevance


def test_community_by_image_with_relevance_score_returns_distances(
    client: Any, colour_embeddings: ImagevecEmbeddings, colour_paths: list[str]
) -> None:
    store = make_store("community", client, colour_embeddings, COSINE)
    store.add_images(uris=colour_paths, metadatas=[{"i": i} for i in range(3)])
    hits = store.similarity_search_by_image_with_relevance_score(uri=colour_paths[0], k=3)
    sims = np.array(colour_embeddings.embed_image(colour_paths)) @ np.array(
        colour_embeddings.embed_image(colour_paths[:1])[0]
    )
    assert hits[0][0].metadata == {"i": 0}
    for doc, distance in hits:  # lower is better, despite the name
        assert distance == pytest.approx(1.0 - sims[doc.metadata["i"]], abs=1e-4)


@pytest.mark.parametrize("kind", ["langchain_chroma", "community"])
def test_add_images_takes_file_paths_only(
    kind: str, client: Any, colour_embeddings: ImagevecEmbeddings, colour_paths: list[str]
) -> None:
    data_uri = (
        "data:image/png;base64," + base64.b64encode(Path(colour_paths[0]).read_bytes()).decode()
    )
    assert len(colour_embeddings.embed_image([data_uri])) == 1  # our embeddings take it...
    store = make_store(kind, client, colour_embeddings, COSINE)
    with pytest.raises(OSError):  # ...upstream's base64 step opens it as a file path
        store.add_images(uris=[data_uri])
    # Searching only calls embed_image, so any image input works there.
    store.add_images(uris=colour_paths, metadatas=[{"i": i} for i in range(3)])
    assert search_by_image(store, data_uri, k=1)[0].metadata == {"i": 0}


async def test_async_search_through_the_store(
    client: Any, colour_embeddings: ImagevecEmbeddings, colour_paths: list[str]
) -> None:
    store = make_store("langchain_chroma", client, colour_embeddings, COSINE)
    store.add_images(uris=colour_paths, metadatas=[{"i": i} for i in range(3)])
    docs = await store.as_retriever(search_kwargs={"k": 1}).ainvoke("blue")
    assert docs[0].metadata == {"i": 2}


def test_chroma_1x_collection_configuration_gives_cosine_scores(
    client: Any, colour_embeddings: ImagevecEmbeddings, colour_paths: list[str]
) -> None:
    store = Chroma(
        collection_name=f"imgs-{uuid.uuid4().hex[:8]}",
        embedding_function=colour_embeddings,
        client=client,
        collection_configuration={"hnsw": {"space": "cosine"}},
    )
    store.add_images(uris=colour_paths, metadatas=[{"i": i} for i in range(3)])
    sims = cosine(colour_embeddings, "blue", colour_paths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scored = store.similarity_search_with_relevance_scores("blue", k=3)
    assert scored[0][0].metadata == {"i": 2}
    for doc, score in scored:
        assert score == pytest.approx(sims[doc.metadata["i"]], abs=1e-4)


@pytest.mark.parametrize("space", ["cosine", "l2"])
def test_unit_relevance_scores_stay_in_0_1_without_warnings(
    space: str, client: Any, colour_embeddings: ImagevecEmbeddings, colour_paths: list[str]
) -> None:
    store = Chroma(
        collection_name=f"imgs-{space}",
        embedding_function=colour_embeddings,
        client=client,
        collection_metadata={"hnsw:space": space},
        relevance_score_fn=unit_relevance(space),
    )
    store.add_images(uris=colour_paths, metadatas=[{"i": i} for i in range(3)])
    sims = cosine(colour_embeddings, "red", colour_paths)
    assert sims.min() < 0  # the case where LangChain's own scores go negative and warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all: none prints the base64 images
        scored = store.similarity_search_with_relevance_scores("red", k=3)
    for doc, score in scored:
        assert score == pytest.approx((1 + sims[doc.metadata["i"]]) / 2, abs=1e-4)
    assert [doc.metadata["i"] for doc, _ in scored] == list(np.argsort(-sims))


def test_unit_relevance_refuses_an_unknown_space() -> None:
    with pytest.raises(ValueError, match="'cosine' or 'l2'"):
        unit_relevance("ip")
