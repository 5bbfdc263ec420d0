"""Search photos from LlamaIndex: a MultiModalVectorStoreIndex on Chroma, by text and by image.

Runs offline with imagevec's bundled default encoder (no API key, nothing downloaded):

    python examples/llamaindex_multimodal.py                    # the sample photos
    python examples/llamaindex_multimodal.py ~/Pictures --query "a dog on the beach"
    python examples/llamaindex_multimodal.py ~/Pictures --image ~/Pictures/cat.jpg

Needs ``pip install "imagevec[llamaindex,samples]"`` (``samples`` only for the sample photos).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # Chroma: no telemetry

import chromadb
from llama_index.core import StorageContext
from llama_index.core.indices import MultiModalVectorStoreIndex

from llama_index.embeddings.imagevec import ImagevecEmbedding
from llama_index.readers.imagevec import load_image_documents
from llama_index.vector_stores.imagevec import cosine_chroma_store


def sample_folder(workdir: Path) -> tuple[Path, Path]:
    """Write the sample photos, plus a query picture that is not in the folder (a crop)."""
    from PIL import Image

    from imagevec.samples import write_sample_photos

    folder = workdir / "photos"
    write_sample_photos(folder)
    with Image.open(folder / "chelsea.jpg") as photo:
        width, height = photo.size
        crop = photo.crop((width // 6, 0, width, height * 5 // 6))
        crop.save(workdir / "query-cat-crop.jpg")
    return folder, workdir / "query-cat-crop.jpg"


def show(title: str, hits: list) -> None:
    """Print retrieved nodes: score (cosine similarity, higher is better) and file."""
    print(f"\n{title}")
    for rank, hit in enumerate(hits, start=1):
        name = getattr(hit.node, "image_path", None) or hit.node.metadata.get("file_path")
        print(f"  {rank}. {hit.score:.3f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="folder of photos (default: sample photos)")
    parser.add_argument("--query", action="append", help="a text query (repeatable)")
    parser.add_argument("--image", help="an example picture to find similar photos")
    parser.add_argument("--db", help="Chroma folder (default: a temporary one)")
    parser.add_argument("--model", default="default", help="imagevec model (default: bundled)")
    parser.add_argument("-k", type=int, default=3, help="results per query")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagevec-llamaindex-") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, workdir: Path) -> None:
    """Index the folder, then ask by text and by image."""
    if args.folder:
        folder, query_image = Path(args.folder), Path(args.image) if args.image else None
    else:
        folder, query_image = sample_folder(workdir)
        query_image = Path(args.image) if args.image else query_image
    queries = args.query or ["a cat", "a cup of coffee", "a rocket"]

    # One object embeds images and texts into the same space: it serves both roles.
    embedding = ImagevecEmbedding(model_name=args.model)
    started = time.perf_counter()
    documents = load_image_documents(folder, embed_model=embedding, images_only=True)
    client = chromadb.PersistentClient(path=args.db or str(workdir / "chroma"))
    storage = StorageContext.from_defaults(
        vector_store=cosine_chroma_store(client, "texts"),
        image_store=cosine_chroma_store(client, "images"),
    )
    index = MultiModalVectorStoreIndex.from_documents(
        documents, storage_context=storage, embed_model=embedding, image_embed_model=embedding
    )
    print(f"indexed {len(documents)} images from {folder} in {time.perf_counter() - started:.1f} s")

    retriever = index.as_retriever(image_similarity_top_k=args.k)
    for query in queries:
        show(f"text: {query!r}", retriever.text_to_image_retrieve(query))
    if query_image is not None:
        show(f"image: {query_image}", retriever.image_to_image_retrieve(str(query_image)))


if __name__ == "__main__":
    main()
