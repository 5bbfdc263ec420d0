"""Talk to ``imagevec mcp`` the way an agent app does: the MCP Python SDK's client over stdio.

It starts the server as a subprocess (as desktop assistants do), asks what the index is good
for, searches by text, and fetches the best photo as image content — the picture a
multimodal model would see — and saves it next to you.

    python examples/mcp_client.py                        # indexes the sample photos first
    python examples/mcp_client.py "a dog on a beach" --db imagevec-db --roots ~/Photos

Needs ``pip install "imagevec[mcp]"`` (and ``[samples]`` for the sample photos).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, types
from mcp.client.stdio import stdio_client

SERVER = [sys.executable, "-m", "imagevec", "mcp"]


def _json(result: types.CallToolResult) -> dict[str, Any]:
    text = next(b.text for b in result.content if isinstance(b, types.TextContent))
    if result.isError:
        raise RuntimeError(f"tool error: {text}")
    return json.loads(text)


async def run(
    query: str,
    db: Path,
    roots: Sequence[Path],
    out: Path,
    *,
    server: Sequence[str] = SERVER,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One conversation with the server; returns what was found and where the photo went."""
    args = [*server[1:], "--db", str(db), *(a for r in roots for a in ("--roots", str(r)))]
    params = StdioServerParameters(command=server[0], args=args, env=env or dict(os.environ))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        about = _json(await session.call_tool("describe_photo_index", {}))
        print(f"{about['photos']} photos, encoder {about['encoder'].get('model')}")
        print(f"how to ask: {about['text_search']}\n")

        found = _json(await session.call_tool("search_photos", {"query": query, "k": 3}))
        for hit in found["results"]:
            print(f"{hit['rank']}. {hit['score']:.3f}  {hit['uri']}")

        best = found["results"][0]
        photo = await session.call_tool("get_photo", {"id": best["id"], "max_size": 512})
        image = next(b for b in photo.content if isinstance(b, types.ImageContent))
        saved = out / f"best-{Path(best['uri']).stem}.jpg"
        saved.write_bytes(base64.b64decode(image.data))
        print(f"\nthe model would see {saved} ({image.mimeType}, {saved.stat().st_size} bytes)")
    return {"about": about, "results": found["results"], "saved": saved}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("query", nargs="?", default="a cat")
    parser.add_argument("--db", type=Path, help="an index (default: index the sample photos)")
    parser.add_argument("--roots", type=Path, action="append", default=[])
    parser.add_argument("--out", type=Path, default=Path.cwd())
    opts = parser.parse_args(argv)
    if opts.db is not None:
        return anyio.run(lambda: run(opts.query, opts.db, opts.roots, opts.out))
    import imagevec
    from imagevec.samples import write_sample_photos

    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        write_sample_photos(photos)
        with imagevec.ImageIndex(Path(tmp) / "db") as index:
            print(index.add(photos).summary())
        return anyio.run(lambda: run(opts.query, Path(tmp) / "db", [photos], opts.out))


if __name__ == "__main__":
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    main()
