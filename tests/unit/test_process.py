"""Process start-up settings and the console script's exit (see ``imagevec.process``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imagevec.index import ImageIndex

pytestmark = pytest.mark.slow  # fresh Python processes

ROOT = Path(__file__).parents[2]


def _python(
    code: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    environment = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    environment.pop("OMP_WAIT_POLICY", None)  # each test sets it or not
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=environment,
        check=False,
    )


def test_importing_imagevec_first_makes_openmp_threads_sleep() -> None:
    show = "import imagevec, os; print(os.environ.get('OMP_WAIT_POLICY'))"
    assert _python(show).stdout.strip() == "PASSIVE"
    assert _python(show, env={"OMP_WAIT_POLICY": "ACTIVE"}).stdout.strip() == "ACTIVE"
    after_torch = "import torch, imagevec, os; print(os.environ.get('OMP_WAIT_POLICY'))"
    assert _python(after_torch).stdout.strip() == "None"  # too late to matter: left alone


def test_chromadb_works_without_the_override_checks() -> None:
    code = (
        "from imagevec.process import skip_override_checks; skip_override_checks()\n"
        "import chromadb, overrides\n"
        "assert overrides.override.__module__ == 'imagevec.process'\n"
        "c = chromadb.EphemeralClient()\n"
        "col = c.create_collection('probe', metadata={'hnsw:space': 'cosine'})\n"
        "col.add(ids=['a', 'b'], embeddings=[[1.0, 0.0], [0.0, 1.0]])\n"
        "print(col.query(query_embeddings=[[0.9, 0.1]], n_results=1)['ids'][0][0])\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "a"


def test_a_read_only_command_ends_with_its_whole_output_and_exit_code(
    tmp_path: Path, colour_dir: Path
) -> None:
    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as index:
        indexed = index.add(colour_dir).indexed
    script = (
        "import sys, tests.support.color_encoder; from imagevec.cli import run; "
        "sys.argv = ['imagevec', *sys.argv[1:]]; run()"
    )
    found = _python(
        script, "search", "--image", str(colour_dir / "red.png"), "--db", str(db), "--json"
    )
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits[0]["uri"].endswith("red.png") and len(hits) == indexed
    missing = _python(script, "search", "a cat", "--db", str(tmp_path / "nothing"))
    assert missing.returncode == 3 and "no index at" in missing.stderr
    info = _python(script, "info", "--db", str(db), "--json")
    assert info.returncode == 0 and json.loads(info.stdout)["collections"][0]["count"] == len(hits)


def test_a_re_index_that_writes_nothing_also_ends_early_and_keeps_its_report(
    tmp_path: Path, messy_dir: Path
) -> None:
    db = tmp_path / "db"
    script = (
        "import sys, tests.support.color_encoder; from imagevec.cli import run; "
        "sys.argv = ['imagevec', *sys.argv[1:]]; run()"
    )
    first = _python(script, "index", str(messy_dir), "--db", str(db), "-m", "test-color")
    assert first.returncode == 1 and "indexed 2" in first.stdout
    again = _python(script, "index", str(messy_dir), "--db", str(db), "--json")
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["indexed"] == 0 and report["unchanged"] == 2 and report["failed_earlier"]
    with ImageIndex(db) as index:
        assert len(index) == 2
