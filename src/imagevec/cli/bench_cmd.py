"""``imagevec bench ...``: the user-facing benchmarks (forward, index, cold, serve, browse,
dupes, scale).

Parsing and output only; the runners are the modules of :mod:`imagevec.bench`. The research
evidence runners (fine-tuning, the default's quality) live in ``examples/benchmarks/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from imagevec.cli.app import EXIT_OK


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


@click.group("bench")
def bench() -> None:
    """Measure speed on this machine: forward, index, cold, serve, dupes, scale.

    Each subcommand has its own options: `imagevec bench forward --help`.
    """


@bench.command("forward")
@click.option(
    "--models",
    default="default,clip-b32-random",
    show_default=True,
    help="Comma-separated encoders; clip-b32-random is a random-weight CLIP ViT-B/32 "
    "(real speed, no download).",
)
@click.option("--dtypes", default="float32,bfloat16", show_default=True, help="Comma-separated.")
@click.option("--images", default=64, show_default=True, type=click.IntRange(1), help="JPEGs.")
@click.option("--batch-size", "-b", default=32, show_default=True, type=click.IntRange(1))
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps.")
@click.option(
    "--long-side",
    default=4032,
    show_default=True,
    type=click.IntRange(16),
    help="Pixels on the long side of the JPEGs (4032 = a 12 MP phone photo).",
)
@click.option(
    "--baseline/--no-baseline",
    default=True,
    show_default=True,
    help="Also time the stock one-by-one CLIP loop (CLIP models, CPU).",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the JPEGs and models here. [default: a temporary folder]",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows.")
def forward_cmd(
    models: str,
    dtypes: str,
    images: int,
    batch_size: int,
    device: str,
    long_side: int,
    baseline: bool,
    workdir: Path | None,
    as_json: bool,
) -> int:
    """Images/s per encoder and dtype: model forward alone vs end-to-end from JPEG files.

    \b
    Example:
      imagevec bench forward --models default --dtypes float32 --images 256 --long-side 1600
    """
    from imagevec.bench.forward import format_table, run_benchmark

    rows = run_benchmark(
        _names(models),
        _names(dtypes),
        images=images,
        batch_size=batch_size,
        baseline=baseline,
        workdir=workdir,
        device=device,
        long_side=long_side,
    )
    click.echo(json.dumps(rows, indent=2) if as_json else format_table(rows))
    return EXIT_OK


@bench.command("engine")
@click.option(
    "--models",
    default="clip-b32-random,default",
    show_default=True,
    help="Comma-separated encoders; clip-b32-random is a random-weight CLIP ViT-B/32 "
    "(real speed, no download). Peer paths run for CLIP folders and the default.",
)
@click.option("--images", default=96, show_default=True, type=click.IntRange(1), help="JPEGs.")
@click.option(
    "--rounds",
    default=2,
    show_default=True,
    type=click.IntRange(1),
    help="Timed passes of every path, interleaved; the best of each is kept.",
)
@click.option("--batch-size", "-b", default=32, show_default=True, type=click.IntRange(1))
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the photos, the random CLIP and the peer export here. "
    "[default: bench-engine beside the graph cache]",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def engine_cmd(
    models: str, images: int, rounds: int, batch_size: int, workdir: Path | None, as_json: bool
) -> int:
    """imagevec at fp32 / bf16 / int8 against the peer paths, in one process, same files.

    Peers: the stock processor with torch, and with ONNX Runtime, one image at a time; the
    engine's graphs alone on ready batches; imagevec end to end with torch and with the
    engine. Prints images/s, mean cosine to imagevec fp32, the ratios of the targets, and
    the CPU bound of any fp32 pipeline here (preparing a photo + its forward, in CPU time).

    \b
    Example:
      imagevec bench engine --models default --images 32 --rounds 1
    """
    from imagevec.bench.engine import format_engine, run_engine_bench

    result = run_engine_bench(
        _names(models), images=images, rounds=rounds, batch_size=batch_size, workdir=workdir
    )
    click.echo(json.dumps(result, indent=2) if as_json else format_engine(result))
    return EXIT_OK


@bench.command("index")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--model", "-m", default="default", show_default=True, metavar="MODEL")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps.")
@click.option("--batch-size", "-b", default=32, show_default=True, type=click.IntRange(1))
@click.option(
    "--copies",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="Edited variants per sample photo (when no PATHS are given).",
)
@click.option(
    "--repeats", default=30, show_default=True, type=click.IntRange(1), help="Queries per kind."
)
@click.option(
    "--rounds",
    default=3,
    show_default=True,
    type=click.IntRange(1),
    help="Timed passes of the encoder and of indexing; the best of each is kept.",
)
def index_cmd(
    paths: tuple[Path, ...],
    model: str,
    device: str,
    batch_size: int,
    copies: int,
    repeats: int,
    rounds: int,
) -> int:
    """Index throughput vs the encoder alone, re-index speed and query latency (JSON).

    PATHS are image files or folders; without them, edited copies of the sample photos.
    """
    from imagevec.bench.index import bench_index

    result = bench_index(
        list(paths) or None,
        model=model,
        device=device,
        batch_size=batch_size,
        copies=copies,
        repeats=repeats,
        rounds=rounds,
    )
    click.echo(json.dumps(result, indent=2))
    return EXIT_OK


@bench.command("cold")
@click.option(
    "--db",
    type=click.Path(file_okay=False, path_type=Path),
    help="An existing index. [default: the sample photos, indexed in a temporary folder]",
)
@click.option(
    "--collection",
    "-c",
    help="The collection. [default: images with --db, else demo (the sample photos)]",
)
@click.option("--text", default="a cat", show_default=True, help="The text query.")
@click.option(
    "--image",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The image query (needed with --db).",
)
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1))
@click.option(
    "--models",
    default="default,clip-b32-random",
    show_default=True,
    help="Comma-separated encoders to index the sample photos with (without --db); "
    "clip-b32-random is a random-weight CLIP ViT-B/32 folder (real size, no download).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def cold_cmd(
    db: Path | None,
    collection: str | None,
    text: str,
    image: Path | None,
    rounds: int,
    models: str,
    as_json: bool,
) -> int:
    """Seconds from command to answer, each run a fresh process: `imagevec search` (text,
    image), a re-index with nothing new, and `imagevec mcp` on stdio (ready, first answer).

    Wall and CPU time of each run (imports, model and store loading included).
    """
    from imagevec.bench.cold import bench_cold, format_cold

    if db is not None and image is None:
        raise click.UsageError("with --db, give the image query with --image")
    if db is not None:  # a missing store or collection: an imagevec error, not a traceback
        from imagevec.errors import CollectionNotFoundError
        from imagevec.index import list_collections
        from imagevec.store.chroma import DEFAULT_COLLECTION

        collection = collection or DEFAULT_COLLECTION

        names = [c["name"] for c in list_collections(db)]
        if collection not in names:
            raise CollectionNotFoundError(collection, str(db), names)
    result = bench_cold(
        db,
        collection=collection or "demo",
        text=text,
        image=image,
        rounds=rounds,
        models=_names(models),
    )
    click.echo(json.dumps(result, indent=2) if as_json else format_cold(result))
    return EXIT_OK


@bench.command("serve")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--model", "-m", default="default", show_default=True, metavar="MODEL")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps.")
@click.option(
    "--copies",
    default=2,
    show_default=True,
    type=click.IntRange(1),
    help="Edited variants per sample photo (when no PATHS are given).",
)
@click.option("--repeats", default=30, show_default=True, type=click.IntRange(1))
@click.option("-k", default=24, show_default=True, type=click.IntRange(1, 200))
@click.option(
    "--browser",
    default="/usr/bin/chromium",
    show_default=True,
    help="Chromium for the thumbnail-grid timing ('none' to skip).",
)
def serve_cmd(
    paths: tuple[Path, ...],
    model: str,
    device: str,
    copies: int,
    repeats: int,
    k: int,
    browser: str,
) -> int:
    """Warm latency of `imagevec serve` (p50/p95, ms): text, image upload, more-like-this,
    the remote client; and the page's k-thumbnail grid in a browser (JSON)."""
    from imagevec.bench.serve import bench_serve

    result = bench_serve(
        list(paths) or None,
        model=model,
        device=device,
        copies=copies,
        repeats=repeats,
        k=k,
        browser=None if browser == "none" else browser,
    )
    click.echo(json.dumps(result, indent=2))
    return EXIT_OK


@bench.command("browse")
@click.option("--photos", default=10_000, show_default=True, type=click.IntRange(100))
@click.option("--model", "-m", default="default", show_default=True, metavar="MODEL")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps.")
@click.option("--repeats", default=20, show_default=True, type=click.IntRange(3))
@click.option(
    "--browser",
    default="/usr/bin/chromium",
    show_default=True,
    help="Chromium for the page timings ('none' to skip).",
)
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the synthetic library here (reused when it has --photos photos).",
)
def browse_cmd(
    photos: int, model: str, device: str, repeats: int, browser: str, folder: Path | None
) -> int:
    """The photo page on a synthetic library (ms, JSON): browse pages, facets, a text query;
    home first paint, scrolling and a query's grid in a browser."""
    from imagevec.bench.browse import bench_browse

    result = bench_browse(
        photos,
        model=model,
        device=device,
        repeats=repeats,
        browser=None if browser == "none" else browser,
        folder=folder,
    )
    click.echo(json.dumps(result, indent=2))
    return EXIT_OK


@bench.command("dupes")
@click.option(
    "--vectors",
    "sizes",
    default="10000",
    show_default=True,
    help="Comma-separated numbers of synthetic vectors to time, e.g. 10000,100000.",
)
@click.option("--dim", default=1664, show_default=True, type=click.IntRange(2))
@click.option(
    "--evidence",
    is_flag=True,
    help="Also embed the sample photos and edited copies and print precision/recall of "
    "each threshold (needs the samples extra; a few minutes on 2 cores).",
)
@click.option("--model", "-m", default="default", show_default=True, metavar="MODEL")
def dupes_cmd(sizes: str, dim: int, evidence: bool, model: str) -> int:
    """Near-duplicate search: photos/s on synthetic vectors, and threshold evidence (JSON)."""
    from imagevec.bench.dupes import bench_speed, threshold_evidence

    result: dict = {"speed": [bench_speed(int(n), dim=dim) for n in _names(sizes)]}
    if evidence:
        result["evidence"] = threshold_evidence(model)
    click.echo(json.dumps(result, indent=2))
    return EXIT_OK


@bench.command("scale")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--chroma-url", required=True, metavar="URL", help="A Chroma server to write to.")
@click.option("--model", "-m", default="default", show_default=True, metavar="MODEL")
@click.option("--actors", default="1,2", show_default=True, help="Ray model actors to try.")
@click.option(
    "--sizes", default="10000", show_default=True, help="Chroma collection sizes to time."
)
@click.option("--dim", default=1664, show_default=True, type=click.IntRange(1))
@click.option("--copies", default=4, show_default=True, type=click.IntRange(1))
def scale_cmd(
    paths: tuple[Path, ...], chroma_url: str, model: str, actors: str, sizes: str, dim: int,
    copies: int,
) -> int:  # fmt: skip
    """Local vs Ray images/s, and a Chroma server's upsert rate and query latency (JSON).

    PATHS are image files or folders; without them, edited copies of the sample photos.
    Skip the engines with --actors '' and the server test with --sizes ''.
    """
    import tempfile

    from imagevec.bench.scale import bench_chroma, bench_engines

    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = list(paths)
        if not files and _names(actors):
            from imagevec.bench.index import sample_variants

            files = sample_variants(Path(tmp), copies)
        if _names(actors):
            counts = [int(n) for n in _names(actors)]
            result["engines"] = bench_engines(files, chroma_url, model=model, actors=counts)
    if _names(sizes):
        numbers = [int(n) for n in _names(sizes)]
        result["chroma"] = bench_chroma(
            chroma_url,
            sizes=numbers,
            dim=dim,
            on_row=lambda row: click.echo(f"chroma: {json.dumps(row)}", err=True),
        )
    click.echo(json.dumps(result, indent=2))
    return EXIT_OK


COMMANDS = [bench]
