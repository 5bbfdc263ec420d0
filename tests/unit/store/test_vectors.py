"""Writing vectors computed elsewhere: the records and stamp are those of ``ImageIndex.add``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import imagevec
from imagevec.errors import ConfigError, EncoderMismatchError
from imagevec.index import ImageIndex


def _records(index: ImageIndex) -> dict[str, tuple[np.ndarray, dict]]:
    got = index._open(write=False).collection.get(include=["embeddings", "metadatas"])
    return {
        id_: (np.asarray(vec), meta)
        for id_, vec, meta in zip(got["ids"], got["embeddings"], got["metadatas"], strict=True)
    }


def test_upserted_records_equal_those_of_add(tmp_path: Path, colour_dir: Path) -> None:
    encoder = imagevec.create_encoder("test-color", device="cpu")
    files = sorted(colour_dir.iterdir())
    vectors = encoder.embed_images(files) * 3.0  # any scale: normalised on write
    with ImageIndex(tmp_path / "db", collection="local", encoder=encoder) as local:
        local.add(colour_dir, metadatas={"album": "x"})
        expected, local_stamp = _records(local), local.stamp
    records = [
        imagevec.file_record(f, v, {"album": "x"}) for f, v in zip(files, vectors, strict=True)
    ]
    with ImageIndex(tmp_path / "db", collection="elsewhere", encoder="test-color") as other:
        assert other.upsert_vectors(records, stamp=imagevec.encoder_stamp(encoder)) == 3
        got = _records(other)
        assert other.stamp == local_stamp
        # a local re-index of the same files finds nothing to do
        assert other.add(colour_dir, metadatas={"album": "x"}).unchanged == 3
    assert got.keys() == expected.keys()
    for id_, (vector, meta) in got.items():
        assert meta == expected[id_][1]
        assert float(vector @ expected[id_][0]) > 0.9999


def test_wrong_dim_uri_or_encoder_is_refused(tmp_path: Path, colour_dir: Path) -> None:
    encoder = imagevec.create_encoder("test-color", device="cpu")
    red = colour_dir / "red.png"
    with ImageIndex(tmp_path / "db", encoder=encoder) as index:
        stamp = imagevec.encoder_stamp(encoder)
        with pytest.raises(ConfigError, match=r"red\.png"):
            index.upsert_vectors([imagevec.file_record(red, np.ones(encoder.dim + 1))], stamp=stamp)
        record = imagevec.file_record(red, np.ones(encoder.dim))
        bad = imagevec.VectorRecord("/elsewhere.png", record.vector, record.metadata)
        with pytest.raises(ConfigError, match="not the record's"):
            index.upsert_vectors([bad], stamp=stamp)
        other = {**stamp, "imagevec:fingerprint": "0" * 16}
        with pytest.raises(EncoderMismatchError):
            index.upsert_vectors([record], stamp=other)
        assert index.upsert_vectors([record]) == 1  # no stamp: the index's own encoder
        with pytest.raises(ConfigError, match="reserved"):
            imagevec.file_record(red, record.vector, {"uri": "x"})


def test_big_vectors_are_written_in_requests_a_server_accepts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Chroma server refuses ~100 MB requests ("Payload too large") far below its max batch
    size when vectors are large (1664-d: ~35 KB of JSON each)."""
    from imagevec.store.chroma import Store, connect

    store = Store(connect(tmp_path / "db"), "big", location="db")
    store.create({"imagevec:x": 1})
    sizes: list[int] = []
    monkeypatch.setattr(store.collection, "upsert", lambda **kw: sizes.append(len(kw["ids"])))
    vectors = np.ones((3000, 1664), dtype=np.float32)
    store.upsert([str(i) for i in range(3000)], vectors, [{"uri": f"/{i}"} for i in range(3000)])
    assert sum(sizes) == 3000 and len(sizes) >= 3
    assert max(sizes) * 1664 * 24 < 64 << 20  # well under the server's limit
