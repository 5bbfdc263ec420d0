"""Multimodal RAG over your photos with LangChain: ask a question, the model sees the images.

question -> ImagevecRetriever (text search in an imagevec index) -> the best photos, loaded
from disk and resized to 512 px -> a multimodal chat model -> the answer (+ the sources).

Run it offline (sample photos, the bundled default encoder, a fake model that echoes what it
received):

    python examples/langchain_rag.py
    python examples/langchain_rag.py --photos ~/Photos "Which photos show a cat?"

Use a real model by passing any LangChain chat model that reads images to ``build_chain``:

    from langchain_openai import ChatOpenAI          # pip install langchain-openai
    chat_model = ChatOpenAI(model="gpt-4o-mini")
    from langchain_ollama import ChatOllama          # pip install langchain-ollama
    chat_model = ChatOllama(model="llava")           # local, after `ollama pull llava`
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from PIL import Image

import imagevec
from langchain_imagevec import ImagevecRetriever, create_multimodal_rag_chain


class EchoChatModel(BaseChatModel):
    """An offline stand-in for a multimodal chat model: it says what it was sent."""

    @property
    def _llm_type(self) -> str:
        return "echo"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        parts = messages[-1].content
        blocks = parts if isinstance(parts, list) else [{"type": "text", "text": parts}]
        texts = [b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        sizes = []
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "image_url":
                data = block["image_url"]["url"].split(",", 1)[1]
                size = Image.open(io.BytesIO(base64.b64decode(data))).size
                sizes.append(f"{size[0]}x{size[1]} JPEG")
        reply = (
            f"[echo] {len(messages)} messages; I was shown {len(sizes)} image(s) "
            f"({', '.join(sizes) or 'none'}) with this text:\n" + "\n".join(texts)
        )
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply))])


def build_chain(
    chat_model: BaseChatModel, index: imagevec.ImageIndex, *, k: int = 3, max_size: int = 512
) -> Runnable[str, dict[str, Any]]:
    """question -> {"question", "docs", "answer"} with any LangChain chat model."""
    retriever = ImagevecRetriever(index=index, k=k, mode="text")
    return create_multimodal_rag_chain(
        retriever, chat_model, max_size=max_size, return_sources=True
    )


def run(
    question: str,
    photos: str | os.PathLike[str],
    chat_model: BaseChatModel,
    *,
    db: str | os.PathLike[str],
    encoder: Any = "default",
    k: int = 3,
) -> dict[str, Any]:
    """Index ``photos`` into ``db`` (unchanged files are skipped) and answer ``question``."""
    with imagevec.ImageIndex(db, collection="photos", encoder=encoder) as index:
        report = index.add(photos)
        print(report.summary())
        return build_chain(chat_model, index, k=k).invoke(question)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="Is there a cat in my photos?")
    parser.add_argument("--photos", help="a folder of photos (default: the sample photos)")
    parser.add_argument("--db", help="index folder (default: a temporary one)")
    parser.add_argument("--model", default="default", help="imagevec encoder")
    parser.add_argument("-k", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        photos = args.photos
        if photos is None:
            from imagevec.samples import write_sample_photos  # pip install "imagevec[samples]"

            photos = Path(tmp) / "photos"
            write_sample_photos(photos)
        db = args.db or Path(tmp) / "db"
        chat_model = EchoChatModel()  # swap in ChatOpenAI(...) / ChatOllama(...) here
        out = run(args.question, photos, chat_model, db=db, encoder=args.model, k=args.k)
    print("\nAnswer:\n" + out["answer"])
    print("\nSources:")
    for doc in out["docs"]:
        print(f"  {doc.metadata['score']:.3f}  {doc.metadata['uri']}")


if __name__ == "__main__":
    main()
