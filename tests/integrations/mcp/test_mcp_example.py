"""examples/mcp_client.py runs end to end against ``imagevec mcp`` (colour encoder index)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import anyio
import pytest
from tests.support.mcp_server import REPO, Library, closest, command, decode, environment

pytestmark = pytest.mark.slow  # one more server subprocess


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", REPO / "examples" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mcp_client_example(library: Library, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    example = load_example("mcp_client.py")
    server = command()  # python -c RUNNER mcp: the test encoder is known there
    out = anyio.run(
        lambda: example.run(
            "yellow", library.db, [library.library], tmp_path, server=server, env=environment()
        )
    )
    best = Path(out["results"][0]["uri"]).stem
    assert out["saved"] == tmp_path / f"best-{best}.jpg"
    assert closest(decode(out["saved"].read_bytes()), library.indexed) == best
    printed = capfd.readouterr().out
    assert f"{len(library.ids)} photos, encoder test-color" in printed
    assert "1. " in printed and "the model would see" in printed
