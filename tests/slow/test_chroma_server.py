"""Server mode against a real ``chroma run`` on 127.0.0.1 that this module starts and stops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagevec.cli import EXIT_ERROR, EXIT_OK, main
from imagevec.errors import EncoderMismatchError
from imagevec.index import ImageIndex

pytestmark = pytest.mark.slow


def test_index_search_reindex_on_a_server(chroma_url: str, colour_dir: Path) -> None:
    with ImageIndex(url=chroma_url, collection="colours", encoder="test-color") as index:
        assert index.add(colour_dir).indexed == 3
        hits = index.search("red", k=3)
        assert Path(hits[0].uri).stem == "red" and hits[0].score > 0.9
        assert index.add(colour_dir).unchanged == 3 and index.count() == 3
    with ImageIndex(url=chroma_url, collection="colours") as again:  # encoder from the stamp
        assert Path(again.search(image=colour_dir / "blue.png", k=1)[0].uri).stem == "blue"
    with pytest.raises(EncoderMismatchError, match="encoder='test-color'"):
        ImageIndex(url=chroma_url, collection="colours", encoder="default")


def test_two_writers_on_a_server_need_no_lock(chroma_url: str, colour_dir: Path) -> None:
    with (
        ImageIndex(url=chroma_url, collection="shared", encoder="test-color") as one,
        ImageIndex(url=chroma_url, collection="shared", encoder="test-color") as two,
    ):
        one.add(colour_dir / "red.png")
        two.add(colour_dir / "green.png")
        assert one.count() == two.count() == 2


def test_cli_with_chroma_url(
    chroma_url: str, colour_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--chroma-url", chroma_url, "-c", "cli-colours"]
    assert main(["index", str(colour_dir), *args, "-m", "test-color"]) == EXIT_OK
    assert main(["search", "green", *args, "--json", "-k", "1"]) == EXIT_OK
    assert main(["info", "--chroma-url", chroma_url, "--json"]) == EXIT_OK
    out = capsys.readouterr().out
    hits = json.loads(out[out.index("[") : out.index("]\n") + 1])
    assert Path(hits[0]["uri"]).stem == "green"
    info = json.loads(out[out.rindex('{\n  "location"') :])
    counts = {c["name"]: c["count"] for c in info["collections"]}
    assert counts["cli-colours"] == 3
    assert main(["info", "--chroma-url", "http://127.0.0.1:1"]) == EXIT_ERROR


def test_langchain_llamaindex_and_chromadb_read_a_server_collection(
    chroma_url: str, colour_dir: Path, color_encoder_instance: object
) -> None:
    """The neighbours' stores read what ``imagevec index --chroma-url`` wrote (documents)."""
    from urllib.parse import urlsplit

    import chromadb
    from tests.support.neighbours import check_chromadb, check_langchain_chroma, check_llama_index

    from langchain_imagevec import ImagevecEmbeddings

    args = ["--chroma-url", chroma_url, "-c", "neighbours", "-m", "test-color"]
    assert main(["index", str(colour_dir), *args]) == EXIT_OK
    parts = urlsplit(chroma_url)
    client = chromadb.HttpClient(host=parts.hostname or "127.0.0.1", port=parts.port or 8000)
    check_chromadb(client, "neighbours")
    embeddings = ImagevecEmbeddings(encoder=color_encoder_instance)
    check_langchain_chroma(client, "neighbours", embeddings, colour_dir)
    check_llama_index(client, "neighbours", color_encoder_instance)
