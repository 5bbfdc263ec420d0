"""``imagevec index --engine ray`` prints only imagevec's own lines (no Ray INFO/WARNING,
no ``E ... core_worker.cc``) unless -v."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600, func_only=True)]


def test_ray_indexing_is_quiet_by_default(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, rgb in (("red", (220, 10, 10)), ("green", (10, 200, 10))):
        Image.new("RGB", (64, 48), rgb).save(photos / f"{name}.png")
    args = ["index", str(photos), "--engine", "ray", "--parquet", str(tmp_path / "out")]
    code = "import sys; from imagevec.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=500,
        env={**os.environ, "RAY_ADDRESS": ""},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "indexed 2" in done.stdout
    noise = [
        line
        for line in done.stderr.splitlines()
        if " INFO " in line or " WARNING " in line or "core_worker" in line or " E " in line
    ]
    assert noise == []
