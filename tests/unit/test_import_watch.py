"""The torch-free tests' import watch itself: it must see an import it is meant to catch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.torch_free import heavy_imports, watched_environment


def test_the_watch_records_a_nested_import_and_lets_it_happen(tmp_path: Path) -> None:
    log = tmp_path / "imports.log"
    code = "import os, json; import transformers.utils; print('imported'); os._exit(0)"
    env = watched_environment(log, IMAGEVEC_TEST_IMPORT_WATCH="transformers")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "imported", done.stderr
    recorded = heavy_imports(log)
    assert recorded.startswith("transformers imported") and "<string>" in recorded


def test_the_watch_stays_quiet_without_the_import(tmp_path: Path) -> None:
    log = tmp_path / "imports.log"
    code = "import imagevec, imagevec.batching, imagevec.preprocess"
    done = subprocess.run([sys.executable, "-c", code], env=watched_environment(log))
    assert done.returncode == 0
    assert heavy_imports(log) == ""
