"""The Chroma layer: cosine collections without an embedding function, the encoder stamp,
batched writes, hash look-ups, paging, and the one distance -> score conversion."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from imagevec.errors import CollectionNotFoundError, ConfigError, NoServerError
from imagevec.store import chroma as store_module
from imagevec.store.chroma import Store, connect, describe_collections, distance_to_score
from imagevec.store.stamp import make_stamp, read_stamp
from imagevec.types import Hit

IDENTITY = {
    "name": "enc",
    "fingerprint": "abc123",
    "dim": 4,
    "pooling": "avg",
    "space": "cosine",
    "modalities": "image,text",
}


def _unit(rows: list[list[float]]) -> np.ndarray:
    array = np.asarray(rows, dtype=np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def _meta(i: int, **extra: object) -> dict:
    return {"uri": f"/photos/{i}.jpg", "sha256": f"h{i}", **extra}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    client = connect(tmp_path / "db")
    created = Store(client, "photos", location=str(tmp_path / "db"))
    created.create(make_stamp(IDENTITY, {"model": "enc", "device": "cpu", "dtype": "float32"}))
    yield created
    client.close()


def test_distance_to_score_is_cosine_similarity() -> None:
    assert distance_to_score(0.0) == 1.0
    assert distance_to_score(0.25, "cosine") == 0.75
    assert distance_to_score(2.0, "cosine") == -1.0
    assert distance_to_score(1.0, "ip") == 0.0
    assert distance_to_score(2.0, "l2") == 0.0  # unit vectors: |a-b|^2 = 2 - 2cos


def test_collection_is_cosine_without_embedding_function(store: Store) -> None:
    assert store.exists and store.space == "cosine"
    assert store.collection._embedding_function is None
    with pytest.raises(ValueError, match="embedding function"):
        store.collection.query(query_texts=["anything"])  # Chroma never embeds on its own


def test_stamp_round_trip_keeps_scalars_and_drops_device(store: Store) -> None:
    assert all(isinstance(v, (str, int, float, bool)) for v in store.collection.metadata.values())
    stamp = store.stamp
    assert {k: stamp[k] for k in IDENTITY} == IDENTITY
    assert stamp["model"] == "enc" and stamp["config"] == {"model": "enc"}
    assert read_stamp({"hnsw:space": "cosine"}) is None


def test_query_returns_hits_best_first_with_cosine_scores(store: Store) -> None:
    vectors = _unit([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0]])
    store.upsert(["a", "b", "c"], vectors, [_meta(i, album="x") for i in range(3)])
    query = _unit([[1, 0.2, 0, 0]])[0]
    hits = store.query(query, k=3)
    assert [h.id for h in hits] == ["a", "b", "c"]
    assert [h.score for h in hits] == pytest.approx(list(vectors @ query), abs=1e-5)
    assert hits[0].uri == "/photos/0.jpg" and hits[0].metadata["album"] == "x"
    assert list(hits[0].metadata) == sorted(hits[0].metadata)  # stable JSON
    assert store.query(query, k=50)[-1].id == "c"  # k larger than the collection
    assert [h.id for h in store.query(query, k=3, where={"sha256": "h2"})] == ["c"]


def test_query_bad_filter_is_a_config_error(store: Store) -> None:
    store.upsert(["a"], _unit([[1, 0, 0, 0]]), [_meta(0)])
    with pytest.raises(ConfigError):
        store.query(_unit([[1, 0, 0, 0]])[0], where={"$bogus": 1})


def test_upserts_are_split_under_the_max_batch_size(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = store.collection.upsert

    def spy(**kwargs: object) -> None:
        calls.append(len(kwargs["ids"]))  # type: ignore[arg-type]
        real(**kwargs)

    monkeypatch.setattr(store.collection, "upsert", spy)
    store._max_batch = 3
    vectors = _unit(np.random.default_rng(0).normal(size=(8, 4)).tolist())
    store.upsert([f"id{i}" for i in range(8)], vectors, [_meta(i) for i in range(8)])
    assert calls == [3, 3, 2] and store.count() == 8
    got = store.collection.get(ids=["id7"], include=["uris", "documents"])
    assert got["uris"] == got["documents"] == ["/photos/7.jpg"]  # the path, never base64


def test_real_max_batch_size_comes_from_the_client(store: Store) -> None:
    assert store.max_batch == store.client.get_max_batch_size() > 0


def test_lookups_by_id_and_hash_paging_and_delete(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = _unit(np.random.default_rng(1).normal(size=(5, 4)).tolist())
    store.upsert([f"id{i}" for i in range(5)], vectors, [_meta(i) for i in range(5)])
    assert set(store.get_metadata(["id1", "nope"])) == {"id1"}
    found = store.find_by_hash(["h3", "zzz"])
    assert set(found) == {"h3"} and np.allclose(found["h3"], vectors[3], atol=1e-6)
    monkeypatch.setattr(store_module, "_PAGE", 2)
    assert sorted(i for i, _ in store.iter_metadata()) == [f"id{i}" for i in range(5)]
    assert store.delete(["id0", "id1", "missing"]) == 2
    assert store.count() == 3


def test_store_update_metadata_keeps_vectors(store: Store) -> None:
    store.upsert(["a"], _unit([[0, 1, 0, 0]]), [_meta(0)])
    store.update_metadata(["a"], [_meta(0, album="new")])
    hit = store.query(_unit([[0, 1, 0, 0]])[0], k=1)[0]
    assert hit.metadata["album"] == "new" and hit.score == pytest.approx(1.0, abs=1e-5)


def test_missing_collection_reads_as_empty_and_require_names_the_others(tmp_path: Path) -> None:
    client = connect(tmp_path / "db")
    try:
        Store(client, "other", location="db").create(make_stamp(IDENTITY, {"model": "enc"}))
        missing = Store(client, "photos", location="db")
        assert not missing.exists and missing.count() == 0 and missing.stamp is None
        assert missing.query(np.ones(4, np.float32), k=3) == []
        with pytest.raises(CollectionNotFoundError, match="collections: other") as caught:
            missing.require()
        assert (caught.value.collection, caught.value.available) == ("photos", ("other",))
        assert [c["name"] for c in describe_collections(client, "db")] == ["other"]
    finally:
        client.close()


def test_bad_collection_name_is_a_config_error(tmp_path: Path) -> None:
    client = connect(tmp_path / "db")
    try:
        with pytest.raises(ConfigError, match="cannot create collection"):
            Store(client, "x", location="db").create(make_stamp(IDENTITY, {"model": "enc"}))
    finally:
        client.close()


def test_connect_rejects_bad_urls_and_dead_servers_quickly() -> None:
    with pytest.raises(ConfigError, match="must look like"):
        connect(url="ftp://host:1")
    with socket.socket() as sock:  # a port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(NoServerError, match="no Chroma server"):
        connect(url=f"http://127.0.0.1:{port}")
    assert time.monotonic() - started < 10


def test_hit_to_dict() -> None:
    hit = Hit("i", "/a.jpg", 0.5, {"w": 1})
    assert hit.to_dict(2) == {
        "rank": 2,
        "id": "i",
        "uri": "/a.jpg",
        "score": 0.5,
        "metadata": {"w": 1},
    }
    assert "rank" not in hit.to_dict()
