"""``imagevec serve``: the web search page and the HTTP API of an index (model loaded once)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import click

from imagevec.cli.app import EXIT_OK
from imagevec.cli.options import chosen_precision, model_options, setup_logging, store_options

_TOKEN = re.compile(r"[A-Za-z0-9._~-]{12,256}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, extra: tuple[str, ...]) -> list[str]:
    """Host header names to accept: loopback names, the bound host, ``--allow-host`` names;
    any (``*``) when bound to all interfaces without ``--allow-host``."""
    from imagevec.serve.security import LOOPBACK_HOSTS

    if host in ("0.0.0.0", "::") and not extra:
        return ["*"]
    return sorted({*LOOPBACK_HOSTS, host.strip("[]"), *extra} - {"0.0.0.0", "::"})


@click.command("serve")
@store_options
@model_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    envvar="IMAGEVEC_TOKEN",
    help="Require this bearer token on every request (env IMAGEVEC_TOKEN; 12+ characters of "
    "letters, digits and ._~-). Needed when --host is not a loopback address.",
)
@click.option(
    "--watch",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Also index this folder in the background, now and every --interval seconds "
    "(repeatable). Searches keep working; new photos appear as batches are written.",
)
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(0.5))
@click.option(
    "--roots",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Serve only image files under these folders (repeatable; default: the --watch "
    "folders, else any indexed file). Files are only ever found by indexed id.",
)
@click.option(
    "--allow-host",
    multiple=True,
    metavar="NAME",
    help="Accept this name in the Host header too (e.g. the machine's DNS name).",
)
@click.option(
    "--max-upload-mb",
    default=20,
    show_default=True,
    type=click.IntRange(1, 512),
    help="Largest image query upload.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Thumbnail cache folder. [default: ~/.cache/imagevec/thumbnails]",
)
@click.option(
    "--trash",
    type=click.Path(file_okay=False, path_type=Path),
    help="Let the duplicates page move photos into this folder (outside --roots; asks "
    "before each move; nothing is deleted). Default: the page is read-only.",
)
@click.option("--verbose", "-v", is_flag=True, help="Log requests and indexing to stderr.")
def serve(
    db: Path,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    device: str,
    dtype: str,
    host: str,
    port: int,
    token: str | None,
    watch: tuple[Path, ...],
    interval: float,
    roots: tuple[Path, ...],
    allow_host: tuple[str, ...],
    max_upload_mb: int,
    cache_dir: Path | None,
    trash: Path | None,
    verbose: bool,
) -> int:
    """Serve a search page and an HTTP API for an index (http://127.0.0.1:8700).

    The model is loaded once; the page works offline. JSON API under /api (OpenAPI at
    /api/openapi.json); Python: imagevec.connect(URL). Binding to another address than
    127.0.0.1 needs --token.

    \b
    Examples:
      imagevec serve --db imagevec-db
      imagevec serve --db imagevec-db --watch ~/Photos
      IMAGEVEC_TOKEN=... imagevec serve --host 0.0.0.0 --allow-host photos.lan
    """
    try:
        from imagevec.serve.app import create_app
        from imagevec.serve.limits import bounded_server, raise_fd_limit, uvicorn_config
    except ImportError as exc:
        raise click.ClickException(
            f"serving needs the serve extra: pip install 'imagevec[serve]' ({exc})"
        ) from exc
    from imagevec.index import ImageIndex
    from imagevec.io.budget import return_large_blocks
    from imagevec.service import QueryService

    setup_logging(verbose)
    return_large_blocks()
    if token is not None and not _TOKEN.fullmatch(token):
        raise click.BadParameter(
            "use 12-256 characters of A-Z a-z 0-9 . _ ~ -", param_hint="--token"
        )
    if not _is_loopback(host):
        click.echo(
            f"warning: serving on {host}: anyone who can reach this address and knows the "
            "token can search the index and see its images",
            err=True,
        )
        if token is None:
            raise click.UsageError("--host other than 127.0.0.1 needs --token (or IMAGEVEC_TOKEN)")
    index = ImageIndex(
        None if chroma_url else db,
        url=chroma_url,
        collection=collection,
        encoder=model,
        device=device,
        dtype=dtype,
        precision=chosen_precision(),
    )
    service = QueryService(
        index,
        roots=list(roots or watch) or None,
        cache_dir=cache_dir,
        max_upload_bytes=max_upload_mb * 2**20,
    )
    owner = None
    try:
        click.echo("loading the model...", err=True)
        service.warm_up()
        owner = _own(service, host, port, token)
        if watch:
            service.watch(list(watch), interval=interval)
        app = create_app(
            service,
            token=token,
            allowed_hosts=allowed_hosts(host, allow_host),
            write_token=owner.write_token if owner else None,
            trash_dir=trash,
        )
        shown = f"[{host}]" if ":" in host else host
        query = f"/?token={token}" if token else "/"
        click.echo(f"imagevec: {service.info()['count']} images; open http://{shown}:{port}{query}")
        raise_fd_limit()
        config = uvicorn_config(app, host=host, port=port, verbose=verbose)
        bounded_server(config).run()
    finally:
        service.close()
        if owner is not None:
            owner.release()
    return EXIT_OK


def _own(service: Any, host: str, port: int, token: str | None) -> Any:
    """Own the served folder (other imagevec commands then search and add through this
    server: :mod:`imagevec.serve.writes`); a warning, not a failure, when it cannot."""
    from imagevec.errors import StoreLockedError
    from imagevec.serve.writes import claim_store

    local = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, f"[{host}]" if ":" in host else host)
    try:
        return claim_store(service, f"http://{local}:{port}", token=token)
    except StoreLockedError as exc:
        click.echo(f"warning: not the store's owner ({exc.holder}): adds go elsewhere", err=True)
        return None


COMMANDS = [serve]
