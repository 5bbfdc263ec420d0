"""``imagevec index | delete | prune``: the commands that write an index."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import click

from imagevec.cli.app import EXIT_OK, EXIT_PARTIAL, read_only
from imagevec.cli.engine import check_engine_options, engine_options, index_on_ray
from imagevec.cli.options import (
    model_options,
    open_index,
    output_options,
    parse_meta,
    parse_where,
    setup_logging,
    store_options,
    want_progress,
)
from imagevec.types import AddOptions, AddReport, AllInputsFailedWarning


@click.command("index")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@store_options
@model_options
@click.option(
    "--batch-size",
    "-b",
    default=32,
    show_default=True,
    type=click.IntRange(1),
    help="Images per forward pass; each batch is written as soon as it is embedded.",
)
@click.option(
    "--recursive/--no-recursive", default=True, show_default=True, help="Walk sub-folders."
)
@click.option(
    "--prune", is_flag=True, help="Also remove entries whose files are gone from the given folders."
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Try again the files that failed in an earlier run and have not changed since "
    "(by default they are skipped and counted).",
)
@click.option(
    "--meta",
    multiple=True,
    metavar="KEY=VALUE",
    help="Add a metadata field (a string) to every file; repeatable. "
    "Filter on it with `search --where`.",
)
@click.option(
    "--include-hidden",
    is_flag=True,
    help="Also walk hidden files and folders (.name). Junk folders (.git, node_modules, "
    "@eaDir, __MACOSX, .Trashes...) are never walked.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Leave out files and folders whose name or relative path matches; repeatable "
    "(e.g. --exclude '*.png' --exclude drafts).",
)
@click.option(
    "--max-megapixels",
    type=click.FloatRange(0.0, min_open=True),
    help="Images larger than this fail (listed) instead of being decoded.",
)
@click.option(
    "--exif-gps",
    is_flag=True,
    help="Also store GPS coordinates from EXIF (by default only whether a photo has them).",
)
@engine_options
@output_options
def index_cmd(
    paths: tuple[Path, ...],
    db: Path,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    device: str,
    dtype: str,
    meta: tuple[str, ...],
    engine: str,
    ray_address: str | None,
    concurrency: int | None,
    num_gpus: float,
    parquet: Path | None,
    as_json: bool,
    progress: bool | None,
    verbose: bool,
    **add: Any,
) -> int:
    """Index image files and folders (PATHS) so that they can be searched.

    Re-running is cheap: unchanged files are skipped without being decoded, changed files
    are updated. Bad files (corrupt, not images) are skipped and listed at the end; the exit
    code is then 1. An interrupted run loses nothing already written and resumes.

    HEIC/HEIF photos are read; camera RAW (dng, cr2, nef, arw...) with the raw extra, and a
    RAW whose JPEG/HEIC sibling is there is left out. EXIF date taken, camera, lens,
    orientation and whether there is a GPS position are stored, for search --since/--camera.

    \b
    Examples:
      imagevec index ~/Photos
      imagevec index ~/Photos --model clip-vit-b32 --collection photos
      imagevec index ~/Photos --prune --meta album=2024
      imagevec index ~/Photos --exclude '*.png' --exclude Screenshots --max-megapixels 50
      imagevec index /shared/photos --engine ray --chroma-url http://chroma:8000 --num-gpus 1
      imagevec index /shared/photos --engine ray --parquet out/vectors/
    """
    setup_logging(verbose)
    options = AddOptions(**add)  # the --batch-size ... --exif-gps flags, by their names
    user = parse_meta(meta) or None
    ray = {
        "ray_address": ray_address, "concurrency": concurrency, "num_gpus": num_gpus,
        "parquet": parquet,
    }  # fmt: skip
    check_engine_options(engine, chroma_url, ray)
    if engine == "ray":
        report, location = index_on_ray(
            list(paths), options, chroma_url=chroma_url, collection=collection, model=model,
            ray=ray, metadatas=user, dtype=dtype, progress=want_progress(progress),
        )  # fmt: skip
        return _print_report(report, location, collection, paths, as_json)
    with (
        open_index(db, chroma_url, collection, model, device, dtype) as index,
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", AllInputsFailedWarning)  # the summary says it
        report = index.add(list(paths), options, metadatas=user, progress=want_progress(progress))
        location = index.location
    if not (report.indexed or report.updated or report.pruned or report.failed):
        read_only()  # this run wrote nothing: the process may end right after its output
    return _print_report(report, location, collection, paths, as_json)


def _print_report(
    report: AddReport, location: str, collection: str, paths: tuple[Path, ...], as_json: bool
) -> int:
    if as_json:
        click.echo(
            json.dumps(
                {"location": location, "collection": collection, **report.to_dict()}, indent=2
            )
        )
    else:
        from imagevec.cli.output import printable, report_to_text

        click.echo(report_to_text(report))
        if report.total == 0:
            click.echo("no image files found in " + ", ".join(map(printable, paths)), err=True)
    return EXIT_OK if report.ok and not report.all_failed else EXIT_PARTIAL


@click.command("delete")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--id", "ids", multiple=True, help="Delete the entry with this id; repeatable.")
@click.option("--where", metavar="JSON", help="Delete every entry matching this filter.")
@store_options
def delete_cmd(
    paths: tuple[Path, ...],
    ids: tuple[str, ...],
    where: str | None,
    db: Path,
    chroma_url: str | None,
    collection: str,
) -> int:
    """Remove entries by file path (a folder removes everything under it), id or filter.

    The files themselves are not touched.
    """
    if not (paths or ids or where):
        raise click.UsageError("give PATHS, --id or --where")
    filters = parse_where(where)
    with open_index(db, chroma_url, collection) as index:
        removed = index.delete(paths, ids=ids, where=filters)
    click.echo(f"deleted {removed}")
    return EXIT_OK


@click.command("prune")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@store_options
def prune_cmd(paths: tuple[Path, ...], db: Path, chroma_url: str | None, collection: str) -> int:
    """Remove entries whose image file no longer exists (only under PATHS, if given)."""
    with open_index(db, chroma_url, collection) as index:
        removed = index.prune(paths or None)
    click.echo(f"pruned {removed}")
    return EXIT_OK


COMMANDS = [index_cmd, delete_cmd, prune_cmd]
