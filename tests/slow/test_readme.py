"""Every Python block of the README runs, in order, as a user would paste them.

The blocks run in one namespace (later blocks use what earlier ones made) in a fresh folder
with a fake home: ``~/Photos`` holds the sample photos and the files the README names
(``query.jpg``, ``a.jpg``, ``b.jpg``, ``car.jpg``) are there. Nothing is downloaded; the RAG
block's chat model is the README's own fake one (the README says which line to swap). A
block is left out only with a ``<!-- readme-test: skip REASON -->`` line right above it, and
the list of such blocks is pinned here, so a new block cannot be skipped silently. The
README's offline CLI blocks run too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(
    r"(?:<!-- readme-test: skip (?P<skip>[^>]*?) -->\n)?```python\n(?P<code>.*?)```", re.S
)
SKIPPED = {
    "downloads ResNet-50 from the Hugging Face hub (tests run offline)",
    "needs a running `imagevec serve` (tested in tests/unit/serve/test_app.py)",
    "top-level await in a running MCP server session (tested in tests/integrations/mcp/)",
    "needs a Ray cluster and a Chroma server (tested in tests/ with local Ray)",
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _blocks() -> list[tuple[str | None, str]]:
    return [(m["skip"], m["code"]) for m in BLOCK.finditer(README)]


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder and a fake home with ~/Photos, as the README assumes."""
    from imagevec.samples import write_sample_photos

    home = tmp_path / "home"
    photos = write_sample_photos(home / "Photos")
    work = tmp_path / "work"
    work.mkdir()
    by_stem = {p.stem: p for p in photos}
    shutil.copy(by_stem["chelsea"], home / "Photos" / "cat.jpg")
    files = {"query.jpg": "chelsea", "a.jpg": "rocket", "b.jpg": "coffee",
             "car.jpg": "motorcycle", "pool.jpg": "grass"}  # fmt: skip
    for name, stem in files.items():
        shutil.copy(by_stem[stem], work / name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))  # the index's home
    monkeypatch.delenv("IMAGEVEC_DB", raising=False)
    monkeypatch.chdir(work)
    return work


def test_the_skipped_blocks_are_the_known_ones() -> None:
    skipped = {skip for skip, _ in _blocks() if skip}
    assert skipped == SKIPPED
    assert len(_blocks()) - len(skipped) >= 5


def test_every_python_block_runs(sandbox: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__readme__"}
    ran = 0
    for number, (skip, code) in enumerate(_blocks(), 1):
        if skip:
            continue
        try:
            exec(compile(code, f"README.md python block {number}", "exec"), namespace)
        except Exception as exc:  # name the block in the failure
            raise AssertionError(f"README python block {number} failed:\n{code}") from exc
        ran += 1
    assert ran >= 5
    assert namespace["vectors"].shape == (4, 1664)  # type: ignore[attr-defined]
    import imagevec

    with imagevec.ImageIndex() as index:  # what the CLI opens by default
        assert index.path == sandbox.parent / "home" / ".local/share/imagevec/db"
        hits = index.search(text="a cat", k=1)
        assert Path(hits[0].uri).name in {"chelsea.jpg", "cat.jpg"}
    # Pasting the LlamaIndex block again replaces its entries: no duplicates.
    import chromadb

    images = chromadb.PersistentClient(path="llamaindex-db").get_collection("images")
    before = images.count()
    llama = next(code for skip, code in _blocks() if "MultiModalVectorStoreIndex" in code)
    exec(compile(llama, "README.md LlamaIndex block, again", "exec"), namespace)
    assert images.count() == before > 0


def test_the_offline_cli_blocks_run(sandbox: Path) -> None:
    imagevec = [sys.executable, "-m", "imagevec"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    lines = [
        "index ~/Photos",
        'search "a dog on a beach"',
        "search --image query.jpg -k 10",
        "search --like ~/Photos/cat.jpg",
        'search "red shoes" --json',
        'search "red shoes" --html results.html',
        "info",
        "models",
    ]
    for line in lines:
        assert line in README, f"the README no longer shows `imagevec {line}`"
    import shlex

    for line in lines:
        args = [os.path.expanduser(a) for a in shlex.split(line)]
        done = subprocess.run([*imagevec, *args], capture_output=True, text=True, env=env)
        assert done.returncode == 0, f"imagevec {line}: {done.stderr[-800:]}"
    assert (sandbox / "results.html").is_file()
