"""``imagevec search | info``: the commands that read an index."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import click

from imagevec.cli.app import EXIT_OK, read_only
from imagevec.cli.options import (
    filter_options,
    model_options,
    open_index,
    output_options,
    photo_filter,
    setup_logging,
    store_options,
)
from imagevec.types import SearchRequest

if TYPE_CHECKING:
    from imagevec.search import Query


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
    "--add",
    "add",
    multiple=True,
    metavar="TERM",
    help="Add a part to the query: a text, an image file, or like:ID_OR_PATH, with an "
    "optional weight (2:TERM); repeatable.",
)
@click.option(
    "--sub",
    "sub",
    multiple=True,
    metavar="TERM",
    help="Subtract a part (push photos like it down); same forms as --add; repeatable.",
)
@filter_options
@click.option(
    "--paths-only",
    is_flag=True,
    help="Print only the paths (exact bytes), one per line, for pipes: | xargs ...",
)
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
    add: tuple[str, ...],
    sub: tuple[str, ...],
    paths_only: bool,
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
    **filters: str | None,
) -> int:
    """Search the index by a text QUERY, an example picture (--image), an indexed photo
    (--like), or any weighted mix of them (--add, --sub).

    Prints rank, score (cosine similarity, higher is better) and path. With --json, prints
    a list of {rank, id, uri, score, metadata}, best first; --paths-only prints paths only.

    QUERY and every --add/--sub TERM read [WEIGHT:][text:|image:|like:]VALUE. Without a
    kind, an existing image file is a picture and anything else a text. QUERY may itself
    join terms with ' + ' and ' - '. A mix ranks photos by the weighted sum of each part's
    own score (the default encoder's text scores are rescaled to the image scores' range).

    \b
    Examples:
      imagevec search "a dog on a beach"
      imagevec search --image query.jpg -k 10
      imagevec search --like ~/Photos/cat.jpg
      imagevec search "2:golden retriever" --add ./pool.jpg --sub night
      imagevec search "beach + 0.5:like:~/Photos/cat.jpg - people"
      imagevec search cat --paths-only | xargs -I{} cp {} ~/cats/
      imagevec search beach --since 2024-06-01 --until 2024-08-31 --camera iphone
      imagevec search "red shoes" --json
      imagevec search "red shoes" --html results.html
    """
    from imagevec.engine.sessions import prefer_quick_start

    read_only()  # the process ends right after the output (see cli.app)
    prefer_quick_start()  # a query or two, then the process ends: no weight pre-packing
    setup_logging(verbose)
    combined = _build_query(query, image, like, add, sub)
    request = SearchRequest(
        query=combined, k=k, include_self=include_self, filter=photo_filter(where, filters)
    )
    with open_index(db, chroma_url, collection, model, device, dtype) as index:
        hits = index.search(request)
    from imagevec.cli import output

    if paths_only:
        for hit in hits:  # the exact bytes of the path, for xargs
            click.echo(os.fsencode(hit.uri))
    else:
        click.echo(output.hits_to_json(hits) if as_json else output.hits_to_text(hits))
    if html_path is not None:
        title = f"imagevec: {combined.describe()}"
        pictures = [str(p.value) for p in combined.parts if p.kind in ("image", "like")]
        page = output.hits_to_html(hits, title, query_images=pictures)
        html_path.write_text(page, encoding="utf-8")
        click.echo(f"wrote {html_path}", err=True)
    return EXIT_OK


def _build_query(
    query: str | None,
    image: Path | None,
    like: str | None,
    add: tuple[str, ...],
    sub: tuple[str, ...],
) -> Query:
    """QUERY, --image, --like, --add and --sub as one combined query (each part weight 1)."""
    from imagevec.errors import ConfigError
    from imagevec.search import Part, Query, parse_terms

    parts: list[Part] = []
    if image is not None:
        parts.append(Part("image", image))
    if like is not None:
        parts.append(Part("like", like))
    if query is None and not parts and not add:
        raise click.UsageError("give a text QUERY, --image PATH, --like ID_OR_PATH or --add TERM")
    try:
        terms = parse_terms(query, add=add, sub=sub) if (query or add or sub) else None
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    return Query(tuple(parts) + (terms.parts if terms else ()))


@click.command("info")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON to stdout.")
def info_cmd(db: Path, chroma_url: str | None, collection: str, as_json: bool) -> int:
    """List the collections of a store: image count and the encoder of each."""
    read_only()  # the process ends right after the output (see cli.app)
    from imagevec.cli.output import stamp_to_text
    from imagevec.encoders.advice import text_search_advice
    from imagevec.index import list_collections

    found = list_collections(None if chroma_url else db, url=chroma_url)
    for entry in found:
        entry["text_search"] = text_search_advice(entry.get("stamp") or None)
    location = chroma_url or str(db)
    from imagevec.engine.sessions import engine_summary

    engine = engine_summary()
    if as_json:
        click.echo(
            json.dumps({"location": location, "engine": engine, "collections": found}, indent=2)
        )
        return EXIT_OK
    click.echo(f"{location} ({'server' if chroma_url else 'embedded'}); inference: {engine}")
    for entry in found or [{"name": "(no collections)", "count": 0, "stamp": {}}]:
        click.echo(f"  {entry['name']}: {entry['count']} images, {stamp_to_text(entry['stamp'])}")
        if entry.get("stamp"):
            advice = textwrap.fill(entry["text_search"], width=96)
            click.echo(textwrap.indent(f"text queries: {advice}", "    "))
    return EXIT_OK


COMMANDS = [search_cmd, info_cmd]
