"""``imagevec eval`` and ``imagevec finetune triplet | simclr | moco | byol | clip | auto``.

Parsing and output only: the work is :mod:`imagevec.evaluation` and :mod:`imagevec.training`.
Exit codes are :mod:`imagevec.cli.app`'s; an interrupted run (130) keeps the last finished
epoch: re-run with ``--resume``.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from imagevec.cli.app import EXIT_OK

F = TypeVar("F", bound=Callable[..., Any])
SCORES = ("recall@1", "recall@5", "recall@10", "map", "mrr")


@click.command("eval")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--model",
    "-m",
    default="default",
    show_default=True,
    metavar="MODEL",
    help="Encoder name, 'hf:<hub id>' or a (fine-tuned) model folder.",
)
@click.option("--batch-size", "-b", default=32, show_default=True, type=click.IntRange(1))
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--progress/--no-progress", default=None, help="Progress bar on stderr.")
def eval_cmd(
    data_dir: Path, model: str, batch_size: int, device: str, as_json: bool, progress: bool | None
) -> int:
    """Retrieval quality on DATA_DIR/<label>/<image>: recall@1/5/10, mAP, MRR.

    Every image queries all the others (leave-one-out); a hit shares its label.

    \b
    Examples:
      imagevec eval products/ --model default
      imagevec eval products/ --model runs/products --json
    """
    from imagevec.cli.options import want_progress
    from imagevec.encoders.factory import create_encoder
    from imagevec.evaluation import evaluate_folder

    encoder = create_encoder(model, device=device)
    metrics = evaluate_folder(
        data_dir, encoder, batch_size=batch_size, progress=want_progress(progress)
    )
    if as_json:
        click.echo(json.dumps({"model": model, **metrics}, indent=2))
        return EXIT_OK
    click.echo(f"{metrics['images']} images, {metrics['labels']} labels, model {model}")
    for key in SCORES:
        click.echo(f"  {key:<10} {metrics[key]:.4f}")
    if metrics["skipped"]:
        click.echo(f"  ({metrics['skipped']} images have no other image of their label: skipped)")
    return EXIT_OK


def _train_options(func: F) -> F:
    """``--out`` (required) and the loop options every path shares."""
    return _loop_options(
        click.option(
            "--out",
            "-o",
            required=True,
            type=click.Path(file_okay=False, path_type=Path),
            help="Output folder: the best model (load it with --model OUT), "
            "training.json, checkpoints/.",
        )(func)
    )


def _loop_options(func: F) -> F:
    options = [
        click.option(
            "--epochs",
            type=click.IntRange(1),
            default=None,
            help="Most epochs (training stops early without progress). "
            "[default: triplet/simclr/moco/byol 10, clip 5]",
        ),
        click.option(
            "--freeze",
            type=int,
            default=None,
            help="Lower layer groups kept frozen (negative: train only the top -N). "
            "[default: triplet/simclr/moco/byol -1, clip the lower half]",
        ),
        click.option("--batch-size", "-b", default=32, show_default=True, type=click.IntRange(2)),
        click.option(
            "--lr",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Learning rate. [default: triplet/simclr/moco/byol 1e-3, clip 1e-4]",
        ),
        click.option(
            "--interpolate",
            type=click.FloatRange(0, 1, min_open=True),
            default=None,
            help="Export base + T x (best epoch - base), a weight-space ensemble with the "
            "base model (1: the best epoch as trained). "
            "[default: triplet 0.25, simclr/moco/byol 0.5, clip 1]",
        ),
        click.option(
            "--refit/--no-refit",
            default=None,
            help="Once the held-out photos chose the epoch count, train again from the base "
            "on every image (held-out ones too) for that many epochs. "
            "[default: on for triplet; off for simclr/moco/byol, where it measured worse; "
            "clip: not available]",
        ),
        click.option(
            "--autocast",
            type=click.Choice(["auto", "bfloat16", "off"]),
            default="auto",
            show_default=True,
            help="bf16 autocast for the forward pass: auto = where the device has native "
            "bf16 (CUDA, AVX512-BF16/AMX CPUs).",
        ),
        click.option("--seed", default=0, show_default=True, type=int),
        click.option("--resume", is_flag=True, help="Continue from OUT/checkpoints/last.pt."),
        click.option(
            "--projection-dim",
            type=click.IntRange(1),
            default=None,
            help="Add a trainable projection head of this size (exported).",
        ),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, mps."),
        click.option(
            "--json", "as_json", is_flag=True, help="Print the result as JSON at the end."
        ),
        click.option("--progress/--no-progress", default=None, help="Progress bars on stderr."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group("finetune")
def finetune_group() -> None:
    """Fine-tune an encoder on your images; the result loads with --model OUT.

    \b
    Which path? (`imagevec finetune auto DATA --dry-run` tells you)
      fewer than 300 unlabelled photos          the pretrained encoder as it is
      60+ photos with "same item" labels        triplet (4+ per label); from 300
                                                photos, simclr on them first
      300+ unlabelled photos                    simclr (or moco, byol), kept only if
                                                light copies of held-out photos are
                                                found better than with the base
      images with captions (a CSV)              clip
    """


@finetune_group.command("triplet")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--model", "-m", default="default", show_default=True, metavar="MODEL")
@click.option("--margin", type=float, default=None, help="Triplet margin. [default: 0.2]")
@click.option(
    "--mining",
    type=click.Choice(["batch_hard", "semi_hard"]),
    default=None,
    help="[default: batch_hard]",
)
@click.option(
    "--metric", type=click.Choice(["cosine", "euclidean"]), default="cosine", show_default=True
)
@click.option(
    "--holdout",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Share of each label's images held out (new photos of known labels): selects "
    "the epoch; the base model is exported when no epoch beats it.",
)
@click.option(
    "--unseen",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Share of whole labels held out too (with 8+ labels), reported as 'unseen'.",
)
@click.option(
    "--eval-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A labelled folder of new photos to select the epoch on instead of held-out ones.",
)
@_train_options
def triplet_cmd(data_dir: Path, **options: Any) -> int:
    """Triplet loss on DATA_DIR/<label>/<image> (P labels x K images per batch).

    \b
    Example:
      imagevec finetune triplet products/ --model default --out runs/products --epochs 5
    """
    from imagevec.training.finetune import finetune_triplet

    return _run(finetune_triplet, data_dir, options)


def _selfsup_options(func: F) -> F:
    """The options SimCLR, MoCo and BYOL share (data, views, the label-free check)."""
    options = [
        click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path)),
        click.option("--model", "-m", default="default", show_default=True, metavar="MODEL"),
        click.option(
            "--holdout",
            default=0.2,
            show_default=True,
            type=click.FloatRange(0, 1, max_open=True),
            help="Share of the photos kept out of training: each gets light copies that must "
            "find it (the label-free check that picks the epoch; the base model is exported "
            "when no epoch beats it).",
        ),
        click.option(
            "--eval-dir",
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            help="A labelled folder to pick the epoch on instead of the held-out copies.",
        ),
        click.option(
            "--views",
            default=None,
            type=click.IntRange(0),
            callback=lambda _ctx, _param, n: _views(n),
            help="Draw N >= 2 augmented views per image once and run the frozen layers once "
            "per view (faster epochs); 0: fresh views every step. [default: 4]",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return _train_options(func)


_TEMPERATURE = click.option(
    "--temperature", default=0.2, show_default=True, type=click.FloatRange(0, min_open=True)
)
_MOMENTUM = click.option(
    "--momentum",
    default=0.99,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="How slowly the momentum copy follows the trained weights.",
)


@finetune_group.command("simclr")
@_TEMPERATURE
@_selfsup_options
def simclr_cmd(data_dir: Path, **options: Any) -> int:
    """SimCLR on the (unlabelled) images below DATA_DIR: two views per image, the other
    images of the batch as negatives.

    \b
    Example:
      imagevec finetune simclr photos/ --out runs/simclr
    """
    from imagevec.training.finetune import finetune_simclr

    return _run(finetune_simclr, data_dir, options)


@finetune_group.command("moco")
@_TEMPERATURE
@_MOMENTUM
@click.option(
    "--queue",
    default=256,
    show_default=True,
    type=click.IntRange(0),
    help="Past keys kept as extra negatives (keep it below the number of photos).",
)
@_selfsup_options
def moco_cmd(data_dir: Path, **options: Any) -> int:
    """MoCo on the (unlabelled) images below DATA_DIR: keys from a momentum copy, a queue of
    past keys as negatives.

    \b
    Example:
      imagevec finetune moco photos/ --out runs/moco
    """
    from imagevec.training.finetune import finetune_moco

    return _run(finetune_moco, data_dir, options)


@finetune_group.command("byol")
@_MOMENTUM
@_selfsup_options
def byol_cmd(data_dir: Path, **options: Any) -> int:
    """BYOL on the (unlabelled) images below DATA_DIR: a predictor chases a momentum
    target's view of the same photo; no negatives.

    \b
    Example:
      imagevec finetune byol photos/ --out runs/byol
    """
    from imagevec.training.finetune import finetune_byol

    return _run(finetune_byol, data_dir, options)


@finetune_group.command("clip")
@click.argument("pairs_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "-m", default="clip-vit-b32", show_default=True, metavar="MODEL")
@click.option(
    "--freeze-text",
    type=int,
    default=None,
    help="Lower text-tower groups kept frozen. [default: the lower half]",
)
@click.option(
    "--holdout", default=0.1, show_default=True, type=click.FloatRange(0, 1, max_open=True)
)
@_train_options
def clip_cmd(pairs_csv: Path, **options: Any) -> int:
    """CLIP's contrastive loss on PAIRS_CSV rows of 'image path, caption'.

    \b
    Example:
      imagevec finetune clip pairs.csv --model clip-vit-b32 --out runs/clip
    """
    from imagevec.training.finetune import finetune_clip

    return _run(finetune_clip, pairs_csv, options)


@finetune_group.command("auto")
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--model",
    "-m",
    default=None,
    metavar="MODEL",
    help="[default: 'default'; clip-vit-b32 for captions]",
)
@click.option("--dry-run", is_flag=True, help="Only say which path fits the data, and why.")
@click.option(
    "--budget",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Most minutes a self-supervised run may take (over it: the pretrained encoder).",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (required unless --dry-run).",
)
@_loop_options
@click.pass_context
def auto_cmd(
    ctx: click.Context,
    data: Path,
    model: str | None,
    dry_run: bool,
    budget: float | None,
    out: Path | None,
    **options: Any,
) -> int:
    """Look at DATA (label folders? a captions CSV? how many images?), pick a path, run it.

    A labelled folder of 300+ photos first gets a SimCLR pass on the same photos (labels
    unused, exported to OUT-simclr); triplet then starts from it.

    \b
    Example:
      imagevec finetune auto products/ --dry-run
      imagevec finetune auto products/ --out runs/products
    """
    from imagevec.training.auto import recommend

    rec = recommend(data, budget_s=None if budget is None else budget * 60)
    steps = f"{rec.pretrain}, then {rec.path}" if rec.pretrain else rec.path
    # With --json, stdout carries only the trained model's report.
    click.echo(f"path: {steps}\nwhy:  {rec.reason}", err=bool(options.get("as_json")))
    if dry_run or rec.path == "pretrained":
        if rec.path == "pretrained":
            fallback = "clip-vit-b32" if rec.captions else "default"
            click.echo(f"nothing to train: use --model {model or fallback} as it is.")
        return EXIT_OK
    if out is None:
        raise click.UsageError("--out is required to run the chosen path (or use --dry-run)")
    commands = {"triplet": triplet_cmd, "simclr": simclr_cmd, "moco": moco_cmd, "byol": byol_cmd}
    command = {**commands, "clip": clip_cmd}[rec.path]
    extra = {"model": model} if model else {}
    if rec.pretrain:
        first = out.with_name(f"{out.name}-{rec.pretrain}")
        click.echo(f"step 1 of 2: {rec.pretrain} -> {first}", err=True)
        pretrain = commands[rec.pretrain]
        with contextlib.redirect_stdout(sys.stderr):  # stdout: the final model's report only
            code = int(ctx.invoke(pretrain, data_dir=data, out=first, **extra, **options) or 0)
        if code != EXIT_OK:
            return code
        click.echo(f"step 2 of 2: {rec.path} from {first} -> {out}", err=True)
        extra = {"model": str(first)}
    key = "pairs_csv" if rec.path == "clip" else "data_dir"
    return int(ctx.invoke(command, **{key: data, "out": out, **extra, **options}) or 0)


def _views(n: int | None) -> int | None:
    if n == 1:
        raise click.BadParameter("0 (fresh views every step) or 2 or more (a pair per image)")
    return n


def _run(train: Callable[..., Any], data: Path, options: dict[str, Any]) -> int:
    from imagevec.cli.options import want_progress

    as_json = options.pop("as_json")
    options["progress"] = want_progress(options.pop("progress"))
    options = {k: v for k, v in options.items() if v is not None}  # unset: the path's default
    out = options["out"]
    try:
        result = train(data, log=lambda line: click.echo(line, err=as_json), **options)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: run again with --resume to continue from {out}", err=True)
        raise
    before, best = result.before, result.best
    summary = {
        "out": str(result.out),
        "best_epoch": result.best_epoch,
        "before": before,
        "best": best,
        "seconds": round(result.seconds, 1),
        "improved": result.improved,
        "interpolated": result.interpolated,
        "refit": result.refit,
        "epoch_metrics": result.epoch_metrics,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return EXIT_OK
    keys = [k for k in (*SCORES, "unseen recall@1", "unseen map") if k in before or k in best]
    widths = [max(9, len(k)) for k in keys]
    click.echo(
        "held-out               "
        + "  ".join(f"{k:>{w}}" for k, w in zip(keys, widths, strict=True))
    )
    blend = result.interpolated
    rows = [("before", before)]
    if blend and blend["exported"] and result.epoch_metrics:
        rows.append((f"ep {result.best_epoch} trained", result.epoch_metrics))
    name = f"ep {result.best_epoch}" if result.improved else "base"
    if blend and blend["exported"]:
        name += f" x{blend['interpolate']:g}"
    rows.append((("validated " if result.refit else "exported ") + f"({name})", best))
    for name, metrics in rows:
        click.echo(
            f"{name:<22} "
            + "  ".join(
                f"{metrics.get(k, float('nan')):>{w}.3f}" for k, w in zip(keys, widths, strict=True)
            )
        )
    if result.refit:
        t = result.refit["interpolate"]
        click.echo(
            f"exported: {result.refit['epochs']} epochs on all {result.refit['images']} images"
            + (f", blended x{t:g} with the base" if t < 1 else "")
            + " (nothing is left to score it on: the 'validated' row is the same recipe on "
            "the held-out split)"
        )
    click.echo(f"saved to {result.out} in {result.seconds:.0f} s; use it with --model {result.out}")
    return EXIT_OK


COMMANDS = [eval_cmd, finetune_group]
