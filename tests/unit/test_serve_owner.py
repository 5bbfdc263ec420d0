"""One owner per store: while ``imagevec serve`` owns a folder, ``imagevec index`` and
``imagevec search`` from other processes go through it; a non-server owner is named."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from PIL import Image

from imagevec.cli import EXIT_ERROR, main
from imagevec.store.locking import LOCK_NAME, owner_of
from tests.support.served import build_colour_index, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
CLI = (
    "import sys, tests.support.color_encoder; from imagevec.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True, text=True, timeout=300, env=_env(), cwd=ROOT,
    )  # fmt: skip


@pytest.mark.slow  # a server in a subprocess
def test_index_and_search_go_through_the_server(colour_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "db"
    build_colour_index(colour_dir, db)
    watched, new = tmp_path / "watched", tmp_path / "new"
    watched.mkdir()
    new.mkdir()
    Image.new("RGB", (30, 30), (240, 240, 0)).save(new / "yellow.png")
    port = _free_port()
    args = ["serve", "--db", str(db), "--port", str(port), "--watch", str(watched)]
    args += ["--interval", "0.5", "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"]
    proc = subprocess.Popen([sys.executable, "-c", CLI, *args], env=_env(), cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, proc, timeout=120)
        owner = owner_of(db)
        assert owner["url"] == url and owner["pid"] == proc.pid and owner["write_token"]
        assert stat.S_IMODE((db / LOCK_NAME).stat().st_mode) == 0o600  # the token is private
        done = _cli("index", str(new), "--db", str(db), "--json")
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout)["indexed"] == 1
        found = _cli("search", "yellow", "--db", str(db), "-k", "1", "--paths-only")
        assert found.returncode == 0, found.stderr[-2000:]
        assert found.stdout.strip().endswith("yellow.png")
        refused = httpx.post(f"{url}/api/add", json={"paths": [str(new)]})
        assert refused.status_code == 403  # the write token is needed
    finally:
        proc.terminate()
        proc.wait(30)
    assert owner_of(db) == {}


def test_a_non_server_owner_is_named_with_the_way_out(
    colour_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "db"
    build_colour_index(colour_dir, db)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from imagevec.store.locking import acquire; "
         "acquire(sys.argv[1], exclusive=True); print('locked', flush=True); time.sleep(60)",
         str(db)],
        stdout=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert main(["search", "red", "--db", str(db)]) == EXIT_ERROR
        err = capsys.readouterr().err
        assert f"process {holder.pid} is writing to it" in err
        assert f"imagevec serve --db {db}" in err
    finally:
        holder.kill()
        holder.wait(10)
