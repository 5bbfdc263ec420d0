"""``imagevec search | info``: the commands that read an index."""

from __future__ import annotations

import json
from pathlib import Path

import click

from imagevec.cli.app import EXIT_OK
from imagevec.cli.options import (
    model_options,
    open_index,
    output_options,
    parse_where,
    setup_logging,
    store_options,
)


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


COMMANDS = [search_cmd, info_cmd]
