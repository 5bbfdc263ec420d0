"""Indexing with Ray Data on a local 2-CPU Ray into a real Chroma server, and into Parquet.

The records must be those of the single-process path: same ids, metadata and stamp, vectors
equal (cosine >= 0.9999), a bad file reported by name, an idempotent rerun, and a killed
driver that loses nothing already written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.tiny_models import tiny_model

from imagevec.cli import EXIT_PARTIAL, main
from imagevec.index import ImageIndex
from imagevec.samples import write_sample_photos

ray = pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600, func_only=True)]  # never hang


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray of 2 CPUs: the size on which two 1-CPU actors used to hang."""
    if ray.is_initialized():
        ray.shutdown()
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real photos (two in a sub-folder) and one broken JPEG."""
    root = tmp_path_factory.mktemp("ray-photos")
    write_sample_photos(root)
    (root / "sub").mkdir()
    for photo in sorted(root.glob("*.jpg"))[:2]:
        photo.rename(root / "sub" / photo.name)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    return root


@pytest.fixture(scope="module")
def model() -> str:
    return str(tiny_model("vit"))


def _records(index: ImageIndex) -> dict[str, tuple[np.ndarray, dict]]:
    got = index._open(write=False).collection.get(include=["embeddings", "metadatas"])
    return {
        i: (np.asarray(v, dtype=np.float32), m)
        for i, v, m in zip(got["ids"], got["embeddings"], got["metadatas"], strict=True)
    }


@pytest.fixture(scope="module")
def local(folder: Path, model: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What the single-process path writes for ``folder``: records and stamp."""
    with ImageIndex(tmp_path_factory.mktemp("local") / "db", encoder=model) as index:
        report = index.add(folder)
        assert report.indexed >= 8 and len(report.failed) == 1
        return {"records": _records(index), "stamp": index.stamp}


def _without_digest(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if k != "vector_digest"}


def _assert_same_records(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for id_, (vector, meta) in got.items():
        # the digest is the store's own field, derived from the vector (compared below)
        assert _without_digest(meta) == _without_digest(expected[id_][1])
        assert float(vector @ expected[id_][0]) >= 0.9999, meta["uri"]


def test_ray_into_chroma_server_equals_the_local_path(
    ray_cluster: str, chroma_url: str, folder: Path, model: str, local: dict
) -> None:
    from imagevec.scale import index_with_ray

    report = index_with_ray(
        [folder], chroma_url=chroma_url, collection="ray", model=model, concurrency=2,
        batch_size=4,
    )  # fmt: skip
    assert report.indexed == len(local["records"]) and report.embedded == report.indexed
    assert [(Path(f.source).name, bool(f.reason)) for f in report.failed] == [("broken.jpg", True)]
    with ImageIndex(url=chroma_url, collection="ray") as index:
        _assert_same_records(_records(index), local["records"])
        assert index.stamp == local["stamp"]
    # rerun: nothing new, the broken file is remembered: no Ray job at all
    again = index_with_ray([folder], chroma_url=chroma_url, collection="ray", model=model)
    assert (again.indexed, again.embedded, again.unchanged) == (0, 0, report.indexed)
    assert [Path(f.source).name for f in again.failed_earlier] == ["broken.jpg"]
    # the local path and search use the collection Ray built
    with ImageIndex(url=chroma_url, collection="ray") as index:
        assert index.add(folder).unchanged == report.indexed
        photo = next(folder.glob("sub/*.jpg"))
        assert index.search(image=photo, k=1)[0].uri == str(photo)


def test_cli_ray_parquet_shards(
    ray_cluster: str, folder: Path, model: str, local: dict, tmp_path: Path
) -> None:
    out = tmp_path / "vectors"
    args = ["index", str(folder), "--engine", "ray", "--parquet", str(out), "-m", model]
    assert main([*args, "--concurrency", "1", "--json"]) == EXIT_PARTIAL  # the broken file
    table = pq.read_table(out)
    assert table.column_names == ["id", "uri", "vector", "metadata"]
    vector_type = table.schema.field("vector").type
    assert pa.types.is_fixed_size_list(vector_type) and vector_type.value_type == pa.float32()
    assert vector_type.list_size == local["stamp"]["dim"]
    got = {
        row["id"]: (np.asarray(row["vector"], dtype=np.float32), json.loads(row["metadata"]))
        for row in table.to_pylist()
    }
    _assert_same_records(got, local["records"])
    uris = dict(zip(table["id"].to_pylist(), table["uri"].to_pylist(), strict=True))
    assert all(got[id_][1]["uri"] == uri for id_, uri in uris.items())
    stamp = json.loads(pq.read_schema(next(out.glob("*.parquet"))).metadata[b"imagevec:stamp"])
    assert stamp["imagevec:fingerprint"] == local["stamp"]["fingerprint"]


def _big_photos(photo: Path, big: Path, count: int) -> Path:
    """``count`` large PNG variants of ``photo`` (slow to decode: a kill lands mid-job)."""
    big.mkdir()
    base = np.asarray(Image.open(photo).convert("RGB"))
    rng = np.random.default_rng(0)
    for number in range(count):
        noise = rng.integers(0, 8, base.shape, dtype=np.uint8)
        picture = Image.fromarray(base ^ noise).resize((1400, 1000))
        picture.save(big / f"photo{number:03d}.png", compress_level=1)
    return big


TOTAL = 20  # big PNGs, embedded one per batch: the kill lands after the first write


def test_killed_driver_loses_nothing_and_rerun_finishes_without_duplicates(
    ray_cluster: str, chroma_url: str, folder: Path, model: str, tmp_path: Path
) -> None:
    from imagevec.scale import index_with_ray

    big = _big_photos(next(folder.glob("*.jpg")), tmp_path / "big", TOTAL)
    script = textwrap.dedent(f"""
        import ray
        from imagevec.scale import index_with_ray
        ray.init(address={ray_cluster!r}, log_to_driver=False)
        index_with_ray([{str(big)!r}], chroma_url={chroma_url!r}, collection="killed",
                       model={model!r}, concurrency=1, batch_size=1)
    """)
    log = tmp_path / "driver.log"
    with open(log, "wb") as out:
        driver = subprocess.Popen(
            [sys.executable, "-c", script], env=os.environ.copy(), stdout=out, stderr=out
        )
    deadline = time.monotonic() + 420
    written = 0
    try:
        while written == 0 and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.02)
            with ImageIndex(url=chroma_url, collection="killed") as index:
                written = index.count()
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait(timeout=30)
    tail = log.read_text(errors="replace")[-3000:]
    assert 0 < written < TOTAL, f"the kill did not land mid-job ({written} of {TOTAL}):\n{tail}"
    time.sleep(2)  # a write in flight may still land
    with ImageIndex(url=chroma_url, collection="killed") as index:
        kept = index.count()
    report = index_with_ray([big], chroma_url=chroma_url, collection="killed", model=model)
    assert report.unchanged == kept and report.indexed == report.embedded == TOTAL - kept
    with ImageIndex(url=chroma_url, collection="killed") as index:
        assert index.count() == TOTAL


def test_bench_chroma_server_reports_rates(chroma_url: str) -> None:
    from imagevec.bench.scale import bench_chroma

    rows = bench_chroma(chroma_url, sizes=[300, 600], dim=16, queries=5)
    assert [row["vectors"] for row in rows] == [300, 600]
    assert all(row["upsert_vectors_per_s"] > 0 and row["query_ms_p95"] > 0 for row in rows)
