"""``imagevec dupes``: groups of near-identical photos, from the stored vectors."""

from __future__ import annotations

import json
from pathlib import Path

import click

from imagevec.cli.app import EXIT_OK, read_only
from imagevec.cli.options import filter_options, open_index, photo_filter, store_options


@click.command("dupes")
@click.option(
    "--threshold",
    "-t",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    help="Cosine similarity from which two photos are duplicates. [default: 0.80, chosen for "
    "the default encoder on edited copies; other encoders: check a few groups]",
)
@click.option("--where", metavar="JSON", help="Only photos matching this metadata filter.")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write a self-contained HTML page: one row of thumbnails per group.",
)
@store_options
def dupes_cmd(
    threshold: float | None,
    where: str | None,
    as_json: bool,
    html_path: Path | None,
    db: Path,
    chroma_url: str | None,
    collection: str,
    **filters: str | None,
) -> int:
    """Find near-duplicate photos (re-saves, resizes, crops, light edits, bursts).

    Uses the vectors already in the index (nothing is re-embedded). Each group lists a
    suggested keeper first, the likely original (earliest capture time, then earliest file
    time, then camera EXIF present, then most pixels, then most bytes) and why it won, then
    the others with their similarity to it. Files are never touched. With --json, prints
    {threshold, groups: [{keeper, reason, size, members: [{id, uri, score, metadata}]}]}.

    \b
    Examples:
      imagevec dupes
      imagevec dupes --threshold 0.95 --html dupes.html
      imagevec dupes --json | jq '.groups[].members[1:][].uri'
    """
    read_only()  # the process ends right after the output (see cli.app)
    from imagevec.cli import output
    from imagevec.search.dupes import DEFAULT_THRESHOLD

    chosen = DEFAULT_THRESHOLD if threshold is None else threshold
    photos = photo_filter(where, filters)
    with open_index(db, chroma_url, collection) as index:
        groups = index.duplicates(threshold=chosen, filter=photos)
    if as_json:
        data = {"threshold": chosen, "groups": [group.to_dict() for group in groups]}
        click.echo(json.dumps(data, indent=2))
    else:
        for number, group in enumerate(groups, 1):
            click.echo(f"group {number} ({len(group.members)} photos)")
            for position, hit in enumerate(group.members):
                label = "  keeper" if position == 0 else f"  {hit.score:.3f} "
                why = f"  ({group.reason})" if position == 0 and group.reason else ""
                click.echo(f"{label} {output.printable(hit.uri)}{why}")
        extra = sum(len(g.members) - 1 for g in groups)
        click.echo(f"{len(groups)} groups, {extra} photos beyond the keepers (threshold {chosen})")
    if html_path is not None:
        title = f"imagevec: near-duplicates (threshold {chosen})"
        html_path.write_text(output.groups_to_html(groups, title), encoding="utf-8")
        click.echo(f"wrote {html_path}", err=True)
    return EXIT_OK


COMMANDS = [dupes_cmd]
