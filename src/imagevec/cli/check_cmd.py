"""``imagevec check [--repair]``: is the index sound, and rebuild its vectors if not."""

from __future__ import annotations

import functools
import json
from dataclasses import asdict
from pathlib import Path

import click

from imagevec.cli.app import EXIT_ERROR, EXIT_OK
from imagevec.cli.options import db_option


@click.command("check")
@db_option("Folder of the embedded Chroma store (env IMAGEVEC_DB).")
@click.option("--collection", "-c", help="Only this collection (default: all).")
@click.option(
    "--repair",
    is_flag=True,
    help="Rebuild collections with problems: damaged vector-index folders are moved aside, "
    "sound vectors kept, the others re-embedded from the image files (unchanged ones).",
)
@click.option("--device", default="auto", show_default=True, help="Device for re-embedding.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_cmd(db: Path, collection: str | None, repair: bool, device: str, as_json: bool) -> int:
    """Check every record of the index: files sound, a vector each, found by its own vector.

    Exit 0 when all is well (or was repaired), 3 when problems remain.

    \b
    Examples:
      imagevec check
      imagevec check --repair --db ~/photos-db
    """
    from imagevec.cli.output import printable
    from imagevec.encoders.factory import create_encoder
    from imagevec.store.check import check_store

    encoder_for = functools.partial(create_encoder, device=device)
    report = check_store(db, collection=collection, repair=repair, encoder_for=encoder_for)
    if as_json:
        click.echo(json.dumps({**asdict(report), "ok": report.ok}, indent=2))
    else:
        click.echo("\n".join(printable(line) for line in report.summary().splitlines()))
        if not report.ok and not repair:
            click.echo(f"repair: imagevec check --repair --db {db}", err=True)
    return EXIT_OK if report.ok else EXIT_ERROR


COMMANDS = [check_cmd]
