"""``imagevec mcp`` is quiet and exits cleanly: no traceback when an HTTP client goes away,
exit status 0 and at once when a stdio client closes while the model still loads, and a
filter nested thousands of levels deep is a tool error that says so."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from tests.support.mcp_server import (
    INITIALIZE,
    REPO,
    Library,
    environment,
    free_port,
    http_server,
)

import imagevec
from imagevec.errors import ConfigError
from imagevec.mcp import PhotoTools
from imagevec.service import QueryService


def test_a_deeply_nested_where_is_a_tool_error_that_says_so(
    library: Library, tmp_path: Path
) -> None:
    deep: dict[str, Any] = {"width": 1}
    for _ in range(2500):
        deep = {"$and": [deep, {"width": 1}]}
    with QueryService(imagevec.ImageIndex(library.db, device="cpu"), cache_dir=tmp_path) as svc:
        tools = PhotoTools(svc)
        with pytest.raises(ConfigError, match="nested too deeply"):
            tools.call("search_photos", {"query": "red", "where": deep})
        as_text = '{"$and":[' * 2500 + '{"width":1}' + ",{}]}" * 2500
        with pytest.raises(ConfigError, match="nested too deeply"):
            tools.call("search_photos", {"query": "red", "where": as_text})


@pytest.mark.slow  # a server process
def test_http_client_disconnects_log_no_traceback(library: Library, tmp_path: Path) -> None:
    log = tmp_path / "server.log"

    async def sessions(url: str) -> None:
        for _ in range(3):
            async with (
                streamablehttp_client(url) as (read, write, _),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await session.list_tools()

    with http_server("--db", library.db, "--cache-dir", tmp_path, port=free_port(), log=log) as url:
        anyio.run(sessions, url)
        time.sleep(1.0)  # let the server notice the closed streams
    text = log.read_text()
    assert "Traceback" not in text and "ClosedResourceError" not in text, text[-2000:]


@pytest.mark.slow  # server processes
def test_stdio_exits_at_once_and_cleanly_when_the_client_closes_during_warm_up(
    library: Library, tmp_path: Path
) -> None:
    code = (
        "import sys, time, tests.support.color_encoder\n"
        "from imagevec.service import QueryService\n"
        "QueryService.warm_up = lambda self: time.sleep(60)\n"  # a model still loading
        "from imagevec.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    argv = [
        sys.executable,
        "-c",
        code,
        "mcp",
        "--db",
        str(library.db),
        "--cache-dir",
        str(tmp_path),
    ]
    for _ in range(3):
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment(),
            cwd=REPO,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(INITIALIZE).encode() + b"\n")
        proc.stdin.flush()
        assert b'"serverInfo"' in proc.stdout.readline()
        proc.stdin.close()
        started = time.monotonic()
        proc.wait(30)
        err = proc.stderr.read()  # type: ignore[union-attr]
        assert proc.returncode == 0, err.decode()[-2000:]
        assert time.monotonic() - started < 10
        assert b"Traceback" not in err
