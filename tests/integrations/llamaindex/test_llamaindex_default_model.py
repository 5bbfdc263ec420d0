"""The real thing: default encoder, sample photos, Chroma on disk, reload in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import chromadb
import pytest
from llama_index.core import StorageContext
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.schema import ImageDocument
from PIL import Image

from llama_index.embeddings.imagevec import ImagevecEmbedding
from llama_index.readers.imagevec import load_image_documents
from llama_index.vector_stores.imagevec import cosine_chroma_store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]

OFFLINE = r"""
import socket

def refuse(self, address, *args):
    if self.family == socket.AF_UNIX:
        return REAL(self, address)
    raise RuntimeError(f"network access: {address!r}")

def resolve(host, *args, **kwargs):
    if host in (None, "localhost", "127.0.0.1", "::1"):
        return LOOKUP(host, *args, **kwargs)
    raise RuntimeError(f"network access: name lookup of {host!r}")

REAL, LOOKUP = socket.socket.connect, socket.getaddrinfo
socket.socket.connect, socket.getaddrinfo = refuse, resolve
"""

RELOAD = (
    OFFLINE
    + r"""
import json, sys

import chromadb
from llama_index.core import Settings, StorageContext, load_index_from_storage
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index.embeddings.imagevec import ImagevecEmbedding
from llama_index.vector_stores.imagevec import cosine_chroma_store

Settings.embed_model = MockEmbedding(embed_dim=1)
Settings.llm = MockLLM()
db, persist, config, query_image = sys.argv[1:5]
emb = ImagevecEmbedding.from_json(config)
client = chromadb.PersistentClient(path=db)
storage = StorageContext.from_defaults(
    persist_dir=persist,
    vector_store=cosine_chroma_store(client, "texts"),
    image_store=cosine_chroma_store(client, "images"),
)
index = load_index_from_storage(storage, embed_model=emb, image_embed_model=emb)
retriever = index.as_retriever(image_similarity_top_k=3)
def names(hits):
    return [[hit.node.metadata["file_name"], hit.score] for hit in hits]
print(json.dumps({
    "text": names(retriever.text_to_image_retrieve("a cat")),
    "image": names(retriever.image_to_image_retrieve(query_image)),
    "count": client.get_collection("images").count(),
}))
"""
)


ENV = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}


def _names(hits: list) -> list[str]:
    return [hit.node.metadata["file_name"] for hit in hits]


def test_photo_folder_index_persist_and_reload_in_a_fresh_process(
    photo_dir: Path, tmp_path: Path
) -> None:
    emb = ImagevecEmbedding(model_name="default", device="cpu")
    docs = load_image_documents(photo_dir, embed_model=emb)
    photos = sorted(photo_dir.glob("*.jpg"))
    assert len(docs) == len(photos) and all(isinstance(d, ImageDocument) for d in docs)

    db, persist = tmp_path / "chroma", tmp_path / "storage"
    client = chromadb.PersistentClient(path=str(db))
    storage = StorageContext.from_defaults(
        vector_store=cosine_chroma_store(client, "texts"),
        image_store=cosine_chroma_store(client, "images"),
    )
    index = MultiModalVectorStoreIndex.from_documents(
        docs, storage_context=storage, embed_model=emb, image_embed_model=emb
    )
    storage.persist(persist_dir=str(persist))
    assert client.get_collection("images").count() == len(photos)

    retriever = index.as_retriever(image_similarity_top_k=3)
    by_text = retriever.text_to_image_retrieve("a cat")
    assert _names(by_text)[0] == "chelsea.jpg"
    assert _names(retriever.retrieve("a cup of coffee"))[0] == "coffee.jpg"
    # Image -> image with a different picture of the same scene: a crop, resized.
    with Image.open(photo_dir / "chelsea.jpg") as photo:
        width, height = photo.size
        crop = photo.crop((width // 8, height // 8, width * 7 // 8, height * 7 // 8))
        crop.resize((crop.width // 2, crop.height // 2)).save(tmp_path / "cat-crop.jpg")
    by_image = retriever.image_to_image_retrieve(str(tmp_path / "cat-crop.jpg"))
    assert _names(by_image)[0] == "chelsea.jpg"
    assert 0.5 < by_image[0].score <= 1.0 + 1e-5
    assert by_image[0].score > by_image[1].score

    del index, retriever, storage, client  # the fresh process opens the same folders
    args = [str(db), str(persist), emb.to_json(), str(tmp_path / "cat-crop.jpg")]
    run = subprocess.run(
        [sys.executable, "-c", RELOAD, *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=ENV,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["count"] == len(photos)
    assert result["text"][0][0] == "chelsea.jpg"
    assert result["text"][0][1] == pytest.approx(by_text[0].score, abs=1e-4)
    assert result["image"][0][0] == "chelsea.jpg"
    assert result["image"][0][1] == pytest.approx(by_image[0].score, abs=1e-4)


def test_example_runs_offline(tmp_path: Path) -> None:
    example = ROOT / "examples" / "llamaindex_multimodal.py"
    code = OFFLINE + (
        "import runpy, sys\nsys.argv = ['example', '-k', '2']\n"
        f"runpy.run_path({str(example)!r}, run_name='__main__')"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=240,
        env=ENV,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "indexed 20 images" in out
    cat = out.split("text: 'a cat'")[1].splitlines()[1]
    assert cat.strip().startswith("1.") and cat.endswith("chelsea.jpg")
    by_image = out.split("image: ")[1].splitlines()[1]
    assert by_image.endswith("chelsea.jpg")
