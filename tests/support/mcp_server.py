"""MCP test support: ``imagevec mcp`` in a subprocess, and telling which photo an image shows.

The subprocess runs the real command entry point (:func:`imagevec.cli.main`); it only
imports :mod:`tests.support.color_encoder` first, so that the small deterministic encoder
``test-color`` is registered there too.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
RUNNER = (
    "import sys, tests.support.color_encoder; from imagevec.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)


@dataclass(frozen=True)
class Library:
    """Where the test photos and the index are."""

    root: Path
    library: Path
    indexed: Path
    new_photo: Path
    outside: Path
    db: Path
    ids: dict[str, str]  # file stem -> record id


#: The JSON-RPC ``initialize`` request a client opens an MCP session with.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}


def command(*args: str | os.PathLike[str]) -> list[str]:
    """``python -c RUNNER mcp ARGS...``: the ``imagevec mcp`` command, test encoder known."""
    return [sys.executable, "-c", RUNNER, "mcp", *map(str, args)]


def environment() -> dict[str, str]:
    """The subprocess environment: offline, telemetry off, this checkout first on the path."""
    paths = [str(REPO), str(REPO / "src"), str(REPO / "integrations")]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1"}
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def http_server(*args: str | os.PathLike[str], port: int, log: Path) -> Iterator[str]:
    """Start ``imagevec mcp --http`` and yield its URL once it accepts connections."""
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            command(*args, "--http", "--port", str(port)),
            env=environment(), cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"imagevec mcp exited: {log.read_text()[-2000:]}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"imagevec mcp did not start: {log.read_text()[-2000:]}")
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def decode(data: bytes) -> Image.Image:
    """Encoded image bytes -> RGB image."""
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB")


def difference(picture: Image.Image, original: Path) -> float:
    """Mean absolute pixel difference (0-255) between ``picture`` and the original file
    shrunk to the same size: small for the same photo, large for another one."""
    with Image.open(original) as img:
        reference = img.convert("RGB").resize(picture.size)
    a = np.asarray(picture, dtype=np.float32)
    b = np.asarray(reference, dtype=np.float32)
    return float(np.abs(a - b).mean())


def closest(picture: Image.Image, folder: Path) -> str:
    """The stem of the photo in ``folder`` that ``picture`` shows (least difference)."""
    return min(folder.glob("*.jpg"), key=lambda path: difference(picture, path)).stem
