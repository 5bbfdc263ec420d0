"""A process that searches, serves or indexes with an exported model never imports torch.

Each test runs the real command (``python -m imagevec ...``) in a fresh process whose
``sitecustomize`` records any import of torch or transformers (:mod:`tests.support.torch_free`),
on a default collection and on a CLIP-folder collection (a tiny CLIP saved to a folder). The
graphs are exported once by the fixture (that needs torch, as the first use of a model does);
the commands then run on the cached graphs.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.torch_free import REPO, heavy_imports, watched_environment
from tests.tiny_models import build_tiny_clip

from imagevec.bench.cold import mcp_stdio

pytestmark = pytest.mark.slow

COLLECTIONS = ("default", "clip")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> dict[str, Path]:
    """The sample photos indexed into two collections, graphs cached in a private cache."""
    root = tmp_path_factory.mktemp("torch-free")
    cache, db = root / "graphs", root / "db"
    clip = build_tiny_clip(root / "clip")
    photos = sorted(photo_dir.glob("*.jpg"))
    code = (
        "import sys, imagevec\n"
        "db, clip, *photos = sys.argv[1:]\n"
        "for name, model in (('default', 'default'), ('clip', clip)):\n"
        "    with imagevec.ImageIndex(db, collection=name, encoder=model) as index:\n"
        "        index.add(photos)\n"
    )
    env = watched_environment(root / "setup-imports.log", IMAGEVEC_CACHE=str(cache))
    done = subprocess.run(
        [sys.executable, "-c", code, str(db), str(clip), *map(str, photos[:8])],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    new = root / "new"
    new.mkdir()
    for photo in photos[8:10]:
        (new / photo.name).write_bytes(photo.read_bytes())
    return {"root": root, "cache": cache, "db": db, "photos": photo_dir, "new": new}


def _run(library: dict[str, Path], log: Path, *args: str | Path) -> subprocess.CompletedProcess:
    env = watched_environment(log, IMAGEVEC_CACHE=str(library["cache"]))
    return subprocess.run(
        [sys.executable, "-m", "imagevec", *map(str, args)],
        env=env, capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_text_search_never_imports_torch(
    library: dict[str, Path], collection: str, tmp_path: Path
) -> None:
    log = tmp_path / "imports.log"
    done = _run(library, log, "search", "a cat", "--db", library["db"], "-c", collection,
                "-k", "3", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 3
    assert heavy_imports(log) == ""


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_image_search_never_imports_torch(
    library: dict[str, Path], collection: str, tmp_path: Path
) -> None:
    log = tmp_path / "imports.log"
    query = library["photos"] / "chelsea.jpg"
    done = _run(library, log, "search", "--image", query, "--db", library["db"], "-c",
                collection, "-k", "3", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)
    assert Path(hits[0]["uri"]).name == "chelsea.jpg"
    assert heavy_imports(log) == ""


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_indexing_new_photos_never_imports_torch(
    library: dict[str, Path], collection: str, tmp_path: Path
) -> None:
    log = tmp_path / "imports.log"
    done = _run(library, log, "index", library["new"], "--db", library["db"], "-c", collection,
                "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["embedded"] == report["indexed"] == 2
    assert heavy_imports(log) == ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(library: dict[str, Path], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``imagevec serve`` on the CLIP collection: (its URL, its import log)."""
    log, port = tmp_path / "imports.log", _free_port()
    env = watched_environment(log, IMAGEVEC_CACHE=str(library["cache"]))
    args = ["serve", "--db", library["db"], "-c", "clip", "--port", port,
            "--cache-dir", tmp_path / "thumbs"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagevec", *map(str, args)],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                urllib.request.urlopen(f"{url}/api/health", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "imagevec serve did not start"
                time.sleep(0.3)
        yield url, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_answers_searches_without_torch(
    served: tuple[str, Path], library: dict[str, Path]
) -> None:
    url, log = served
    with urllib.request.urlopen(f"{url}/api/search?q=a+cat&k=2", timeout=60) as response:
        assert len(json.loads(response.read())) == 2
    picture = base64.b64encode((library["photos"] / "coffee.jpg").read_bytes()).decode()
    request = urllib.request.Request(
        f"{url}/api/search",
        data=json.dumps({"image": picture, "k": 1}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert Path(json.loads(response.read())[0]["uri"]).name == "coffee.jpg"
    assert heavy_imports(log) == ""


@pytest.mark.parametrize("collection", COLLECTIONS)
def test_mcp_stdio_answers_a_tool_call_without_torch(
    library: dict[str, Path], collection: str, tmp_path: Path
) -> None:
    log = tmp_path / "imports.log"
    env = watched_environment(log, IMAGEVEC_CACHE=str(library["cache"]))
    args = ["--db", str(library["db"]), "-c", collection, "--cache-dir", str(tmp_path)]
    answer = mcp_stdio(args, "a cat", env=env)
    found = json.loads(answer["result"]["content"][0]["text"])
    assert found["count"] == 3 and answer["returncode"] == 0
    assert heavy_imports(log) == ""
