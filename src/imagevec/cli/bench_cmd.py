"""``imagevec bench ...``: the benchmark and evidence runners (forward, index, cold, ...).

Parsing and output only; the runners are the modules of :mod:`imagevec.bench` (forward,
engine, index, cold, finetune_evidence, default_quality, serve, dupes, scale).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from imagevec.cli.app import EXIT_OK


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


@click.group("bench")
def bench() -> None:
    """Measure speed (forward, index) and fine-tuning gains (finetune) on this machine.

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
    engine. Prints images/s, mean cosine to imagevec fp32 and the ratios of the targets.

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
@click.option("--collection", "-c", default="demo", show_default=True)
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
    collection: str,
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
    result = bench_cold(
        db, collection=collection, text=text, image=image, rounds=rounds, models=_names(models)
    )
    click.echo(json.dumps(result, indent=2) if as_json else format_cold(result))
    return EXIT_OK


@bench.command("finetune")
@click.option(
    "--out",
    "-o",
    default="runs/evidence",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Work folder: sets/, runs/<set>-seed<N>/, evidence.json.",
)
@click.option("--model", "-m", default="default", show_default=True, metavar="MODEL")
@click.option(
    "--sets",
    "sets",
    multiple=True,
    help="Labelled sets to run (repeatable). [default: colour-5, grey-30, colour-100]",
)
@click.option("--seeds", default="0,1,2", show_default=True, help="Comma-separated training seeds.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Override the recipe.")
@click.option("--freeze", type=int, help="Override the recipe (negative: train the top -N).")
@click.option("--epochs", type=click.IntRange(1), help="Override the recipe.")
@click.option("--margin", type=float, help="Override the recipe.")
@click.option("--mining", type=click.Choice(["batch_hard", "semi_hard"]))
@click.option(
    "--lr-decay",
    type=click.FloatRange(min=0, min_open=True),
    help="Override the recipe: each lower trainable group's rate is this times the next's.",
)
@click.option(
    "--interpolate",
    type=click.FloatRange(0, 1, min_open=True),
    help="Override the recipe: export base + T x (best epoch - base).",
)
@click.option(
    "--refit/--no-refit",
    default=None,
    help="Override the recipe: train the chosen epoch count again on every image.",
)
@click.option(
    "--build-seed",
    default=0,
    show_default=True,
    type=int,
    help="Cut the sets afresh with this seed (other crops of the same photo cells).",
)
@click.option(
    "--selfsup",
    is_flag=True,
    help="Instead: SimCLR vs MoCo on the first set's photos without labels (10 epochs).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def finetune_cmd(
    out: Path,
    model: str,
    sets: tuple[str, ...],
    seeds: str,
    build_seed: int,
    selfsup: bool,
    as_json: bool,
    **recipe: Any,
) -> int:
    """Evidence for the triplet defaults: base vs fine-tuned recall@1 / mAP per set and seed,
    on new photos of the trained labels and on unseen labels.

    A few minutes on 2 CPU cores (the frozen layers run once per image and view).
    """
    from imagevec.bench.finetune_evidence import (
        HEADER,
        SELFSUP_HEADER,
        run_evidence,
        run_selfsup_evidence,
    )
    from imagevec.bench.labelled_sets import SETS

    unknown = [name for name in sets if name not in SETS]
    if unknown:
        raise click.BadParameter(f"{unknown}: choose from {', '.join(SETS)}", param_hint="--sets")
    options = {k: v for k, v in recipe.items() if v is not None}
    log = (lambda _line: None) if as_json else click.echo
    if not as_json:
        click.echo(SELFSUP_HEADER if selfsup else HEADER)
    seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    if selfsup:
        train = {k: v for k, v in options.items() if k in ("lr", "freeze", "epochs")}
        rows = run_selfsup_evidence(
            out, set_name=(sets or ("grey-30",))[0], seeds=seed_list, model=model,
            options=train, log=log,
        )  # fmt: skip
        if as_json:
            click.echo(json.dumps(rows, indent=2, default=str))
        return EXIT_OK
    rows = run_evidence(
        out,
        sets=sets or tuple(SETS),
        seeds=seed_list,
        model=model,
        options=options,
        build_seed=build_seed,
        log=log,
    )
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
    return EXIT_OK


@bench.command("default-quality")
@click.option("--device", default="cpu", show_default=True, help="auto, cpu, cuda, mps.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with every query's rank).")
def default_quality_cmd(device: str, as_json: bool) -> int:
    """The bundled default on real sample photos: text hit@1/3 and edited-copy recall@1.

    Compares the settings before tuning (avg pooling, ConSE top-20 at temperature 1) with
    the current ones; tune cases and kept-aside cases are reported apart.
    """
    import imagevec
    from imagevec.bench.default_quality import format_report, run_default_quality

    report = run_default_quality(imagevec.create_encoder("default", device=device, engine="torch"))
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
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
