"""``imagevec serve``: safe defaults on the command line, and a real run in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from imagevec.cli import main
from imagevec.cli.serve_cmd import allowed_hosts
from tests.support.served import build_colour_index, wait_until_healthy

ROOT = Path(__file__).resolve().parents[3]


def test_public_host_without_token_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--db", str(tmp_path), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "warning: serving on 0.0.0.0" in err and "needs --token" in err


def test_weak_token_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--db", str(tmp_path), "--token", "short"]) == 2
    assert "--token" in capsys.readouterr().err


def test_allowed_hosts() -> None:
    assert allowed_hosts("0.0.0.0", ()) == ["*"]
    assert allowed_hosts("0.0.0.0", ("photos.lan",)) == [
        "127.0.0.1",
        "::1",
        "localhost",
        "photos.lan",
    ]
    assert "*" not in allowed_hosts("127.0.0.1", ())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # a server process
def test_serve_runs_and_watches(colour_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "db"
    build_colour_index(colour_dir, db)
    watched = tmp_path / "new"
    watched.mkdir()
    port = _free_port()
    code = (
        "import sys, tests.support.color_encoder; from imagevec.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    args = ["serve", "--db", str(db), "--port", str(port), "--watch", str(watched)]
    args += ["--roots", str(colour_dir), "--roots", str(watched), "--interval", "0.5"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--device", "cpu"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        wait_until_healthy(url, proc, timeout=120)
        assert (
            httpx.get(f"{url}/api/search", params={"q": "red"}).json()[0]["uri"].endswith("red.png")
        )
        from PIL import Image

        Image.new("RGB", (30, 30), (240, 240, 0)).save(watched / "yellow.png")
        while time.time() < deadline and httpx.get(f"{url}/api/info").json()["count"] < 4:
            time.sleep(0.3)
        top = httpx.get(f"{url}/api/search", params={"q": "yellow", "k": 1}).json()[0]
        assert top["uri"].endswith("yellow.png")
        assert httpx.get(f"{url}/api/items/{top['id']}/thumbnail").status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
