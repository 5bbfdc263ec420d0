"""``imagevec demo``: index the bundled sample photos and run a few queries, offline."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from imagevec.cli.app import EXIT_OK, EXIT_PARTIAL
from imagevec.cli.options import setup_logging, want_progress

#: text query -> the sample photo that should come first
TEXT_QUERIES = {
    "a cat": "chelsea",
    "a cup of coffee": "coffee",
    "a rocket": "rocket",
    "a motorcycle": "motorcycle",
}
COLLECTION = "demo"


def edited_copy(source: Path, target: Path) -> Path:
    """A cropped, rotated, brightened, smaller copy of a photo (the image query)."""
    from PIL import Image, ImageEnhance

    with Image.open(source) as img:
        width, height = img.size
        img = img.convert("RGB").crop((width // 10, height // 10, width * 9 // 10, height))
        img = img.rotate(8, resample=Image.Resampling.BICUBIC, expand=False)
        img = ImageEnhance.Brightness(img).enhance(1.25)
        img.thumbnail((320, 320))
        target.parent.mkdir(parents=True, exist_ok=True)
        img.save(target, quality=85)
    return target


def _show(title: str, hits: list, expected: str, k: int) -> bool:
    from imagevec.samples import describe

    top = Path(hits[0].uri).stem if hits else None
    ok = top == expected
    click.echo(f"\n{title}   [{'ok' if ok else 'expected ' + expected}]")
    for rank, hit in enumerate(hits[:k], 1):
        stem = Path(hit.uri).stem
        click.echo(f"  {rank}. {hit.score:6.3f}  {stem:<22} {describe(stem)}")
    return ok


@click.command("demo")
@click.option(
    "--db",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo: index into this store folder, as every --db (collection 'demo'; "
    "the photos go beside it, in sample-photos), then try "
    '`imagevec search --db DIR -c demo "a horse"`. [default: a temporary folder]',
)
@click.option(
    "--model",
    "-m",
    default="default",
    show_default=True,
    help="Encoder to index the samples with (see `imagevec models`).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps.")
@click.option(
    "-k", "k", default=3, show_default=True, type=click.IntRange(1), help="Results shown per query."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr. [default: when stderr is a terminal]",
)
@click.option("--verbose", "-v", is_flag=True, help="Log details to stderr.")
def demo(
    db: Path | None, model: str, device: str, k: int, progress: bool | None, verbose: bool
) -> int:
    """Index the sample photos and run sample text and image queries (no network needed).

    The photos come from scikit-image and scikit-learn (installed with imagevec[samples]).
    """
    setup_logging(verbose)
    with tempfile.TemporaryDirectory(prefix="imagevec-demo-") as scratch:
        store = db if db is not None else Path(scratch, "db")
        return _run(
            store,
            keep=db is not None,
            model=model,
            device=device,
            k=k,
            progress=want_progress(progress),
        )


def _run(store: Path, *, keep: bool, model: str, device: str, k: int, progress: bool) -> int:
    from imagevec.cli.output import report_to_text
    from imagevec.index import ImageIndex
    from imagevec.samples import write_sample_photos

    store = store.expanduser().absolute()
    photos = store.parent / "sample-photos"
    paths = write_sample_photos(photos)
    query = edited_copy(photos / "chelsea.jpg", store.parent / "queries" / "chelsea-edited.jpg")
    click.echo(f"{len(paths)} sample photos in {photos}")
    with ImageIndex(store, collection=COLLECTION, encoder=model, device=device) as index:
        click.echo(f"indexing with encoder {model!r}...")
        report = index.add([photos], progress=progress)
        click.echo(report_to_text(report))
        good = [
            _show(f"text: {text!r}", index.search(text, k=k), expected, k)
            for text, expected in TEXT_QUERIES.items()
        ]
        hits = index.search(image=query, k=k)
        good.append(_show(f"image: {query.name} (edited copy of chelsea.jpg)", hits, "chelsea", k))
    click.echo(f"\n{sum(good)}/{len(good)} queries found the expected photo first.")
    if keep:
        click.echo(f'Try: imagevec search --db {store} -c {COLLECTION} "a horse"')
    else:
        click.echo("(temporary index, deleted; keep one with `imagevec demo --db DIR`)")
    return EXIT_OK if report.ok else EXIT_PARTIAL


COMMANDS = [demo]
