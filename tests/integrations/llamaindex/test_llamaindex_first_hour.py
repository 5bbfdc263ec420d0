"""The README's LlamaIndex route run twice (no duplicates), and logging left as found."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import chromadb
import pytest
from llama_index.core import StorageContext
from llama_index.core.indices import MultiModalVectorStoreIndex

from llama_index.embeddings.imagevec import (
    ImagevecEmbedding,
    cosine_chroma_store,
    load_image_documents,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.slow,  # fresh Python processes
]


def _build_into(folder: Path, db: Path, emb: ImagevecEmbedding) -> int:
    docs = load_image_documents(folder, embed_model=emb)
    client = chromadb.PersistentClient(path=str(db))
    storage = StorageContext.from_defaults(
        vector_store=cosine_chroma_store(client, "texts"),
        image_store=cosine_chroma_store(client, "images"),
    )
    MultiModalVectorStoreIndex.from_documents(
        docs, storage_context=storage, embed_model=emb, image_embed_model=emb
    )
    return client.get_collection("images").count()


def test_document_ids_are_path_and_content(
    colour_dir: Path, colour_embedding: ImagevecEmbedding
) -> None:
    first = {d.id_ for d in load_image_documents(colour_dir, embed_model=colour_embedding)}
    again = {d.id_ for d in load_image_documents(colour_dir, embed_model=colour_embedding)}
    assert first == again and len(first) == 3
    (colour_dir / "red.png").write_bytes((colour_dir / "blue.png").read_bytes())
    changed = {d.id_ for d in load_image_documents(colour_dir, embed_model=colour_embedding)}
    assert len(changed - first) == 1  # new content, new id; the others stay


def test_rerunning_the_readme_route_does_not_duplicate(
    colour_dir: Path, tmp_path: Path, colour_embedding: ImagevecEmbedding
) -> None:
    db = tmp_path / "llamaindex-db"
    assert _build_into(colour_dir, db, colour_embedding) == 3
    assert _build_into(colour_dir, db, colour_embedding) == 3  # replaced, not appended


def test_importing_the_integration_leaves_logging_as_found() -> None:
    code = """
import logging
root = logging.getLogger()
before = (root.level, list(root.handlers))
import llama_index.embeddings.imagevec
from llama_index.embeddings.imagevec import load_image_documents
import llama_index.readers.file
after = (root.level, list(root.handlers))
print(before == after, logging.getLevelName(root.level))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "WARNING"], out.stdout + out.stderr
    assert logging.getLogger().level == logging.getLogger().level  # this process untouched
