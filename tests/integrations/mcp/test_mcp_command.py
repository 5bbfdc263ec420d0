"""``imagevec mcp`` refuses what it cannot serve safely, before serving anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.mcp_server import Library

from imagevec.cli import EXIT_ERROR, main


def test_command_refuses_a_public_http_host_and_a_missing_index(
    library: Library, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    public = main(["mcp", "--db", str(library.db), "--http", "--host", "0.0.0.0"])
    assert public == EXIT_ERROR
    assert "loopback" in capsys.readouterr().err
    missing = main(["mcp", "--db", str(tmp_path / "nothing-here")])
    assert missing == EXIT_ERROR
    assert "no index at" in capsys.readouterr().err
