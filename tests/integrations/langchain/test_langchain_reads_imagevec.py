"""LangChain's own ``Chroma`` (and plain chromadb) read a collection that imagevec wrote.

imagevec stores each record's URI as its Chroma document; langchain-chroma drops rows without
one, so before that every search of an imagevec collection through it returned ``[]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings
from tests.support.neighbours import check_chromadb, check_langchain_chroma

import imagevec
from imagevec.cli import EXIT_OK, main
from imagevec.store.chroma import DOCUMENTS_KEY
from langchain_imagevec import ImagevecEmbeddings


def _client(db: Path) -> Any:
    return chromadb.PersistentClient(path=str(db), settings=Settings(anonymized_telemetry=False))


def test_langchain_chroma_reads_an_indexed_folder(
    tmp_path: Path, colour_photos: Path, colour_embeddings: ImagevecEmbeddings
) -> None:
    db = tmp_path / "db"
    assert main(["index", str(colour_photos), "--db", str(db), "-m", "test-color"]) == EXIT_OK
    client = _client(db)
    check_chromadb(client, "images")
    check_langchain_chroma(client, "images", colour_embeddings, colour_photos)
    # langchain-chroma's persist_directory= form opens the same folder.
    from langchain_chroma import Chroma

    store = Chroma("images", colour_embeddings, persist_directory=str(db))
    assert Path(store.similarity_search("yellow", k=1)[0].page_content).stem == "yellow"


def test_upsert_vectors_stores_documents(
    tmp_path: Path, colour_photos: Path, color_encoder_instance: Any
) -> None:
    paths = sorted(colour_photos.glob("*.png"))
    vectors = color_encoder_instance.embed_images(paths)
    with imagevec.ImageIndex(tmp_path / "db", encoder=color_encoder_instance) as index:
        index.upsert_vectors(
            imagevec.file_record(p, v) for p, v in zip(paths, vectors, strict=True)
        )
        check_chromadb(index._open(write=False).client, "images")


def test_a_store_written_without_documents_is_filled_on_the_next_index(
    tmp_path: Path, colour_photos: Path, colour_embeddings: ImagevecEmbeddings
) -> None:
    db = tmp_path / "db"
    args = ["--db", str(db), "-m", "test-color"]
    assert main(["index", str(colour_photos), *args]) == EXIT_OK
    _strip_documents(_client(db), "images")
    assert (
        _client(db).get_collection("images").get(include=["documents"])["documents"] == [None] * 4
    )

    assert main(["index", str(colour_photos), *args]) == EXIT_OK  # nothing changed: no re-embed
    client = _client(db)
    check_chromadb(client, "images")
    assert client.get_collection("images").metadata[DOCUMENTS_KEY] == 1
    check_langchain_chroma(client, "images", colour_embeddings, colour_photos)


def _strip_documents(client: Any, name: str) -> None:
    """Rewrite ``name`` as imagevec wrote it before it stored documents."""
    old = client.get_collection(name)
    got = old.get(include=["embeddings", "metadatas", "uris"])
    metadata = {k: v for k, v in old.metadata.items() if k != DOCUMENTS_KEY}
    client.delete_collection(name)
    new = client.create_collection(
        name,
        configuration={"hnsw": {"space": "cosine"}},
        metadata=metadata,
        embedding_function=None,
    )
    new.add(
        ids=got["ids"],
        embeddings=np.asarray(got["embeddings"], dtype=np.float32),
        metadatas=got["metadatas"],
        uris=got["uris"],
    )
