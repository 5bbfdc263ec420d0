"""MultiModalVectorStoreIndex + ChromaVectorStore + SimpleDirectoryReader, run for real.

Fast tests use the colour encoder; scores are checked against the true cosine similarity.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
import pytest
import tomllib
from llama_index.core import SimpleDirectoryReader, StorageContext
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.schema import ImageDocument, ImageNode
from llama_index.vector_stores.chroma import ChromaVectorStore

import imagevec
from llama_index.embeddings.imagevec import ImagevecEmbedding
from llama_index.readers.imagevec import check_image_documents, load_image_documents
from llama_index.vector_stores.imagevec import CosineChromaVectorStore, cosine_chroma_store

ROOT = Path(__file__).resolve().parents[3]

# llama-index-readers-file's ImageReader opens files with PIL and never closes them.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _build(
    docs: list, emb: ImagevecEmbedding, client: chromadb.ClientAPI
) -> MultiModalVectorStoreIndex:
    storage = StorageContext.from_defaults(
        vector_store=cosine_chroma_store(client, "texts"),
        image_store=cosine_chroma_store(client, "images"),
    )
    return MultiModalVectorStoreIndex.from_documents(
        docs, storage_context=storage, embed_model=emb, image_embed_model=emb
    )


@pytest.fixture
def colour_folder(messy_dir: Path, colour_dir: Path) -> Path:
    """The messy folder plus solid red, green and blue pictures."""
    for picture in colour_dir.glob("*.png"):
        (messy_dir / picture.name).write_bytes(picture.read_bytes())
    return messy_dir


def test_the_llamaindex_extra_brings_the_image_reader() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["llamaindex"]
    names = {spec.split(">")[0].split("=")[0].split("[")[0].strip() for spec in extra}
    assert {"llama-index-core", "llama-index-vector-stores-chroma"} <= names
    assert "llama-index-readers-file" in names


def test_reader_returns_image_documents(colour_dir: Path) -> None:
    docs = SimpleDirectoryReader(str(colour_dir)).load_data()
    assert len(docs) == 3 and all(isinstance(d, ImageDocument) for d in docs)
    assert check_image_documents(docs, colour_dir) == docs


def test_missing_file_readers_is_a_clear_error(
    colour_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "llama_index.readers.file", None)  # not installed
    docs = SimpleDirectoryReader(str(colour_dir)).load_data()
    assert docs and not any(isinstance(d, ImageDocument) for d in docs)  # the silent trap
    with pytest.raises(imagevec.ConfigError, match="llama-index-readers-file"):
        check_image_documents(docs, colour_dir)
    with pytest.raises(imagevec.ConfigError, match=r"imagevec\[llamaindex\]"):
        load_image_documents(colour_dir)


def test_messy_folder_indexes_the_good_images(
    colour_folder: Path, colour_embedding: ImagevecEmbedding, tmp_path: Path
) -> None:
    with pytest.warns(imagevec.SkippedImageWarning, match=r"corrupt\.jpg"):
        docs = load_image_documents(colour_folder, embed_model=colour_embedding)
    images = [d for d in docs if isinstance(d, ImageDocument)]
    names = sorted(Path(d.image_path).name for d in images)
    assert names == ["alpha.png", "blue.png", "good1.jpg", "green.png", "red.png"]
    assert all(d.embedding is not None and d.image is None for d in images)  # no base64
    assert [d.metadata["file_name"] for d in docs if not isinstance(d, ImageDocument)] == [
        "notes.txt"
    ]
    client = chromadb.PersistentClient(path=str(tmp_path / "db"))
    index = _build(docs, colour_embedding, client)
    assert client.get_collection("images").count() == len(images)
    assert client.get_collection("images").configuration["hnsw"]["space"] == "cosine"
    assert client.get_collection("texts").count() == 1
    hits = index.as_retriever(image_similarity_top_k=2).text_to_image_retrieve("red")
    assert Path(hits[0].node.image_path).name == "red.png"


def test_plain_reader_with_a_corrupt_image_fails_clearly(
    colour_folder: Path, colour_embedding: ImagevecEmbedding
) -> None:
    docs = SimpleDirectoryReader(str(colour_folder)).load_data()
    with pytest.raises(imagevec.ImageLoadError, match=r"corrupt\.jpg.*load_image_documents"):
        MultiModalVectorStoreIndex.from_documents(
            docs, embed_model=colour_embedding, image_embed_model=colour_embedding
        )


def test_retrievers_report_true_cosine(
    colour_dir: Path, colour_embedding: ImagevecEmbedding, tmp_path: Path
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clean folder: nothing left out
        docs = load_image_documents(colour_dir, embed_model=colour_embedding)
    index = _build(docs, colour_embedding, chromadb.PersistentClient(path=str(tmp_path)))
    encoder = colour_embedding.encoder
    paths = sorted(colour_dir.glob("*.png"))
    vectors = dict(zip(paths, encoder.embed_images(paths), strict=True))
    retriever = index.as_retriever(image_similarity_top_k=3)

    def check(hits: list, query: np.ndarray) -> None:
        assert len(hits) == 3 and all(isinstance(h.node, ImageNode) for h in hits)
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
        for hit in hits:
            true = float(vectors[Path(hit.node.image_path)] @ query)
            assert hit.score == pytest.approx(true, abs=1e-4)

    red_text = encoder.embed_text("red")
    check(retriever.text_to_image_retrieve("red"), red_text)
    both = retriever.retrieve("red")  # text store is empty here: image hits only
    assert Path(both[0].node.image_path).name == "red.png"
    blue = colour_dir / "blue.png"
    by_image = retriever.image_to_image_retrieve(str(blue))
    check(by_image, vectors[blue])
    assert by_image[0].score == pytest.approx(1.0, abs=1e-4)


def test_stock_chroma_store_scores_are_not_cosine(tmp_path: Path) -> None:
    """Documents the upstream convention this package corrects: score = exp(-distance)."""
    from llama_index.core.schema import TextNode
    from llama_index.core.vector_stores.types import VectorStoreQuery

    client = chromadb.PersistentClient(path=str(tmp_path))
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(4, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    nodes = [TextNode(text=f"n{i}", id_=f"n{i}", embedding=list(v)) for i, v in enumerate(vectors)]
    query = VectorStoreQuery(query_embedding=vectors[0].tolist(), similarity_top_k=4)
    for space in ("cosine", "l2", "ip"):
        collection = client.get_or_create_collection(
            f"c-{space}", configuration={"hnsw": {"space": space}}, embedding_function=None
        )
        stock = ChromaVectorStore(chroma_collection=collection)
        stock.add(nodes)
        ours = CosineChromaVectorStore(chroma_collection=collection)
        assert ours.space == space
        raw, fixed = stock.query(query), ours.query(query)
        true = [float(vectors[int(i[1:])] @ vectors[0]) for i in fixed.ids]
        assert fixed.similarities == pytest.approx(true, abs=1e-4)
        if space != "l2":
            assert raw.similarities == pytest.approx(np.exp(np.array(true) - 1), abs=1e-4)
        else:
            assert raw.similarities == pytest.approx(np.exp(2 * np.array(true) - 2), abs=1e-4)
    created = cosine_chroma_store(tmp_path / "by-path", "images")
    assert created.space == "cosine"


@pytest.mark.parametrize("use_async", [False, True])
def test_index_build_embeds_all_images_in_one_loop_call(
    colour_dir: Path, spy_encoder: Any, tmp_path: Path, use_async: bool
) -> None:
    for i in range(7):  # 10 images, more than one embed_batch_size
        (colour_dir / f"copy{i}.png").write_bytes((colour_dir / "red.png").read_bytes())
    emb = ImagevecEmbedding(encoder=spy_encoder, embed_batch_size=4)
    docs = SimpleDirectoryReader(str(colour_dir)).load_data()  # not pre-embedded
    index = MultiModalVectorStoreIndex.from_documents(
        docs,
        storage_context=StorageContext.from_defaults(
            image_store=cosine_chroma_store(chromadb.PersistentClient(path=str(tmp_path)), "img")
        ),
        embed_model=emb,
        image_embed_model=emb,
        use_async=use_async,
    )
    assert spy_encoder.loop_calls == 1 and spy_encoder.batch_sizes == [4, 4, 2]
    hits = index.as_retriever(image_similarity_top_k=1).text_to_image_retrieve("green")
    assert Path(hits[0].node.image_path).name == "green.png"


def test_stock_chroma_vector_store_reads_an_imagevec_collection(
    tmp_path: Path, color_encoder_instance: Any
) -> None:
    """LlamaIndex's own ChromaVectorStore sees imagevec's records as nodes (text = the path)."""
    from chromadb.config import Settings
    from PIL import Image
    from tests.support.neighbours import check_llama_index

    photos = tmp_path / "photos"
    photos.mkdir()
    for name, rgb in (("red", (220, 10, 10)), ("blue", (10, 10, 230))):
        Image.new("RGB", (64, 48), rgb).save(photos / f"{name}.png")
    with imagevec.ImageIndex(tmp_path / "db", encoder=color_encoder_instance) as index:
        assert index.add(photos).indexed == 2
    client = chromadb.PersistentClient(
        path=str(tmp_path / "db"), settings=Settings(anonymized_telemetry=False)
    )
    check_llama_index(client, "images", color_encoder_instance)
