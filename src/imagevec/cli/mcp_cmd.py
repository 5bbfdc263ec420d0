"""``imagevec mcp``: the index as an MCP server (stdio for desktop clients, or streamable HTTP)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import click

from imagevec.cli.app import EXIT_OK
from imagevec.cli.options import chosen_precision, model_options, setup_logging, store_options


@click.command("mcp")
@store_options
@model_options
@click.option(
    "--roots",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folders whose files may be read (repeatable): indexed photos shown to the model, "
    "and example pictures given by path. Without it, only indexed photos are shown (by id) "
    "and no path is read.",
)
@click.option("--http", "use_http", is_flag=True, help="Serve streamable HTTP instead of stdio.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="With --http: a loopback address (127.0.0.1, localhost or ::1); there is no auth.",
)
@click.option("--port", default=8701, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--allow-urls",
    is_flag=True,
    help="Let find_similar_photos fetch http(s) example pictures (public addresses only).",
)
@click.option(
    "--max-image-side",
    default=1024,
    show_default=True,
    type=click.IntRange(64, 4096),
    help="Longest side, in pixels, of any photo handed to the model.",
)
@click.option(
    "--max-image-kb",
    default=1000,
    show_default=True,
    type=click.IntRange(16, 20_000),
    help="Largest encoded photo handed to the model (it is shrunk until it fits).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Thumbnail cache folder. [default: ~/.cache/imagevec/thumbnails]",
)
@click.option("--verbose", "-v", is_flag=True, help="Log to stderr.")
def mcp_cmd(
    db: Path,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    device: str,
    dtype: str,
    roots: tuple[Path, ...],
    use_http: bool,
    host: str,
    port: int,
    allow_urls: bool,
    max_image_side: int,
    max_image_kb: int,
    cache_dir: Path | None,
    verbose: bool,
) -> int:
    """Serve the index to AI agents over the Model Context Protocol (read-only).

    Tools: search_photos (text), find_similar_photos (an id, a file under --roots or a data
    URI), get_photo (the picture itself, resized), describe_photo_index. Each photo is also
    the resource imagevec://photo/{id}. stdio by default (what desktop clients launch);
    --http serves http://127.0.0.1:8701/mcp.

    \b
    Examples:
      imagevec mcp --db imagevec-db --roots ~/Photos
      imagevec mcp --db imagevec-db --roots ~/Photos --http --port 8701
    """
    try:
        import anyio

        from imagevec.mcp import McpOptions, build_server, http_app, run_http, run_stdio
    except ImportError as exc:
        raise click.ClickException(
            f"the MCP server needs the mcp extra: pip install 'imagevec[mcp]' ({exc})"
        ) from exc
    from imagevec.errors import StoreNotFoundError
    from imagevec.index import ImageIndex, is_store
    from imagevec.io.budget import return_large_blocks
    from imagevec.service import QueryService

    setup_logging(verbose)
    return_large_blocks()
    options = McpOptions(
        max_image_side=max_image_side, max_image_bytes=max_image_kb * 1000, allow_urls=allow_urls
    )
    if chroma_url is None and not is_store(db):
        raise StoreNotFoundError(db)
    index = ImageIndex(
        None if chroma_url else db,
        url=chroma_url,
        collection=collection,
        encoder=model,
        device=device,
        dtype=dtype,
        precision=chosen_precision(),
    )
    service = QueryService(index, roots=roots or None, cache_dir=cache_dir)
    # Load the model while the client connects: initialize is answered at once.
    warm = threading.Thread(target=_warm_up, args=(service,), daemon=True)
    try:
        server = build_server(service, options)
        if use_http:
            http_app(server, host=host, port=port)  # refuses a non-loopback host early
        warm.start()
        if use_http:
            click.echo(f"imagevec MCP server on http://{host}:{port}/mcp", err=True)
            anyio.run(lambda: run_http(server, host=host, port=port))
        else:
            anyio.run(run_stdio, server)
    except BaseException:
        service.close()
        raise
    _leave(service, warm)
    return EXIT_OK


def _warm_up(service: Any) -> None:
    try:
        service.warm_up()
    except Exception as exc:  # the tool calls report it too, as tool errors
        click.echo(f"imagevec mcp: could not load the model: {exc}", err=True)


def _leave(service: Any, warm: threading.Thread) -> None:
    """Close and return; but while the model is still loading (the client closed at once),
    exit now: finalising the interpreter under a thread inside native model code can abort
    the process (SIGABRT), and the server has written nothing that needs flushing."""
    warm.join(0.2)
    if warm.is_alive():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OK)
    service.close()


COMMANDS = [mcp_cmd]
