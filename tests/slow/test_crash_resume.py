"""``kill -9`` of a running ``imagevec index`` loses nothing already written, and the next run
resumes: no duplicates, and finished images are not embedded again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps
from tests.support.color_encoder import ColorEncoder

from imagevec.encoders.registry import register_family
from imagevec.index import ImageIndex

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BATCH = 4


class SlowColor(ColorEncoder):
    """The colour encoder, sleeping ``IMAGEVEC_TEST_DELAY`` seconds per batch."""

    name = "test-slow-color"

    def forward_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        time.sleep(float(os.environ.get("IMAGEVEC_TEST_DELAY", "0")))
        return super().forward_images(pixel_values)


register_family("test-slow-color", lambda ref, **options: SlowColor(device="cpu"))

# The real entry point, in a subprocess that knows the slow encoder.
RUNNER = """
import sys
import tests.slow.test_crash_resume
from imagevec.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _variants(photo_dir: Path, target: Path) -> int:
    """60 small edited copies of the sample photos (3 per photo)."""
    target.mkdir()
    count = 0
    for path in sorted(photo_dir.glob("*.jpg"))[:20]:
        with Image.open(path) as img:
            small = img.convert("RGB")
            small.thumbnail((96, 96))
        edits = (small, ImageOps.mirror(small), ImageEnhance.Brightness(small).enhance(1.4))
        for number, edit in enumerate(edits):
            edit.save(target / f"{path.stem}-{number}.jpg", quality=90)
            count += 1
    return count


def _command(folder: Path, db: Path, delay: float) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "IMAGEVEC_TEST_DELAY": str(delay), "ANONYMIZED_TELEMETRY": "False"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    args = [sys.executable, "-c", RUNNER, "index", str(folder), "--db", str(db)]
    return [*args, "-m", "test-slow-color", "-b", str(BATCH), "--no-progress", "-v"], env


def test_kill_9_mid_index_then_resume(photo_dir: Path, tmp_path: Path) -> None:
    total = _variants(photo_dir, tmp_path / "photos")
    assert total == 60
    db = tmp_path / "db"
    args, env = _command(tmp_path / "photos", db, delay=0.25)
    proc = subprocess.Popen(args, env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
    writes = 0
    deadline = time.monotonic() + 120
    try:
        while writes < 3 and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            writes += "imagevec: wrote" in line
        assert writes == 3, "the run ended or stalled before three batches were written"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stderr.close()

    with ImageIndex(db) as index:  # reading needs no model
        written = index.count()
    assert 3 * BATCH <= written < total

    args, env = _command(tmp_path / "photos", db, delay=0.0)
    done = subprocess.run(
        [*args, "--json"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["unchanged"] == written  # finished images were not embedded again
    assert report["indexed"] == report["embedded"] == total - written
    assert report["failed"] == []
    with ImageIndex(db) as index:
        assert index.count() == total
        uris = {hit.uri for hit in index.search("red", k=total)}
    assert len(uris) == total  # no duplicates
