"""``imagevec index | search | info | delete | prune`` (and ``models``, ``demo``).

Exit codes: 0 ok; 1 done, but some files failed (listed); 2 usage error; 3 imagevec error
(unknown model, encoder mismatch, locked store, no such collection...).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from imagevec.cli.demo_cmd import demo
from imagevec.cli.models_cmd import models
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

EXIT_OK, EXIT_PARTIAL = 0, 1


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
    "--meta",
    multiple=True,
    metavar="KEY=VALUE",
    help="Add a metadata field (a string) to every file; repeatable. "
    "Filter on it with `search --where`.",
)
@output_options
def index_cmd(
    paths: tuple[Path, ...],
    db: Path,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    device: str,
    dtype: str,
    batch_size: int,
    recursive: bool,
    prune: bool,
    meta: tuple[str, ...],
    as_json: bool,
    progress: bool | None,
    verbose: bool,
) -> int:
    """Index image files and folders (PATHS) so that they can be searched.

    Re-running is cheap: unchanged files are skipped without being decoded, changed files
    are updated. Bad files (corrupt, not images) are skipped and listed at the end; the exit
    code is then 1. An interrupted run loses nothing already written and resumes.

    \b
    Examples:
      imagevec index ~/Photos
      imagevec index ~/Photos --model clip-vit-b32 --collection photos
      imagevec index ~/Photos --prune --meta album=2024
    """
    setup_logging(verbose)
    user = parse_meta(meta) or None
    with open_index(db, chroma_url, collection, model, device, dtype) as index:
        report = index.add(
            list(paths),
            metadatas=user,
            batch_size=batch_size,
            recursive=recursive,
            prune=prune,
            progress=want_progress(progress),
        )
        location = index.location
    if as_json:
        click.echo(
            json.dumps(
                {"location": location, "collection": collection, **report.to_dict()}, indent=2
            )
        )
    else:
        from imagevec.cli.output import report_to_text

        click.echo(report_to_text(report))
        if report.total == 0:
            click.echo("no image files found in " + ", ".join(map(str, paths)), err=True)
    return EXIT_OK if report.ok else EXIT_PARTIAL


@click.command("search")
@click.argument("query", required=False)
@click.option(
    "--image",
    "-i",
    "image",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Search by this picture instead of a text.",
)
@click.option(
    "--like",
    metavar="ID_OR_PATH",
    help="More like this: search by an indexed photo's stored vector (its id or path; "
    "the file need not exist any more). The photo itself is left out.",
)
@click.option("--include-self", is_flag=True, help="With --like, keep the photo itself.")
@click.option(
    "-k",
    "--top-k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="Number of results.",
)
@click.option(
    "--where",
    metavar="JSON",
    help='Chroma metadata filter, e.g. \'{"album": "2024"}\' or \'{"width": {"$gte": 1000}}\'.',
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML page of thumbnails with scores.",
)
@store_options
@model_options
@output_options
def search_cmd(
    query: str | None,
    image: Path | None,
    like: str | None,
    include_self: bool,
    k: int,
    where: str | None,
    html_path: Path | None,
    db: Path,
    chroma_url: str | None,
    collection: str,
    model: str | None,
    device: str,
    dtype: str,
    as_json: bool,
    progress: bool | None,
    verbose: bool,
) -> int:
    """Search the index by a text QUERY, an example picture (--image) or an indexed photo
    (--like).

    Prints rank, score (cosine similarity, higher is better) and path. With --json, prints
    a list of {rank, id, uri, score, metadata}, best first.

    \b
    Examples:
      imagevec search "a dog on a beach"
      imagevec search --image query.jpg -k 10
      imagevec search --like ~/Photos/cat.jpg
      imagevec search "red shoes" --json
      imagevec search "red shoes" --html results.html
    """
    setup_logging(verbose)
    if sum(q is not None for q in (query, image, like)) != 1:
        raise click.UsageError("give a text QUERY, --image PATH or --like ID_OR_PATH (one)")
    filters = parse_where(where)
    if query is not None and Path(query).is_file():
        click.echo(f"note: searching for the text {query!r}; use --image to search by it", err=True)
    with open_index(db, chroma_url, collection, model, device, dtype) as index:
        hits = index.search(
            query, image=image, like=like, include_self=include_self, k=k, where=filters
        )
    from imagevec.cli import output

    click.echo(output.hits_to_json(hits) if as_json else output.hits_to_text(hits))
    if html_path is not None:
        title = f"imagevec: {query!r}" if query is not None else f"imagevec: like {image or like}"
        html_path.write_text(output.hits_to_html(hits, title), encoding="utf-8")
        click.echo(f"wrote {html_path}", err=True)
    return EXIT_OK


@click.command("info")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout.")
def info_cmd(db: Path, chroma_url: str | None, collection: str, as_json: bool) -> int:
    """List the collections of a store: image count and the encoder of each."""
    from imagevec.cli.output import stamp_to_text
    from imagevec.index import list_collections

    found = list_collections(None if chroma_url else db, url=chroma_url)
    location = chroma_url or str(db)
    if as_json:
        click.echo(json.dumps({"location": location, "collections": found}, indent=2))
        return EXIT_OK
    click.echo(f"{location} ({'server' if chroma_url else 'embedded'})")
    for entry in found or [{"name": "(no collections)", "count": 0, "stamp": {}}]:
        click.echo(f"  {entry['name']}: {entry['count']} images, {stamp_to_text(entry['stamp'])}")
    return EXIT_OK


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


COMMANDS = [index_cmd, search_cmd, info_cmd, models, demo, delete_cmd, prune_cmd]
