"""Research evidence runners: ``python examples/benchmarks/run.py finetune | default-quality``.

Not part of the installed package (``imagevec bench`` keeps the user-facing speed
benchmarks); see this folder's README. Needs a source checkout with imagevec installed
(``pip install -e .``) and, for ``finetune``, torch.

Example::

    python examples/benchmarks/run.py finetune --out runs/evidence --seeds 0,1,2
    python examples/benchmarks/run.py default-quality --json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from default_quality import format_report, run_default_quality
from finetune_evidence import (
    HEADER,
    SELFSUP_HEADER,
    run_evidence,
    run_selfsup_evidence,
    run_simclr_first,
)
from labelled_sets import SETS

import imagevec


@click.group()
def cli() -> None:
    """Evidence for the fine-tuning defaults (finetune) and the default encoder's settings."""


@cli.command("finetune")
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
@click.option(
    "--simclr-first",
    is_flag=True,
    help="Instead: triplet from a `finetune simclr` export of each set's photos (labels "
    "unused) beside triplet from the base. [default sets: grey-30, colour-100]",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def finetune_cmd(
    out: Path,
    model: str,
    sets: tuple[str, ...],
    seeds: str,
    build_seed: int,
    selfsup: bool,
    simclr_first: bool,
    as_json: bool,
    **recipe: Any,
) -> int:
    """Evidence for the triplet defaults: base vs fine-tuned recall@1 / mAP per set and seed,
    on new photos of the trained labels and on unseen labels.

    A few minutes on 2 CPU cores (the frozen layers run once per image and view).
    """
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
        return 0
    if simclr_first:
        simclr = {k: v for k, v in options.items() if k == "epochs"}
        rows = run_simclr_first(
            out, sets=sets or ("grey-30", "colour-100"), seeds=seed_list, model=model,
            options=options, simclr_options=simclr, log=log,
        )  # fmt: skip
        if as_json:
            click.echo(json.dumps(rows, indent=2, default=str))
        return 0
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
    return 0


@cli.command("default-quality")
@click.option("--device", default="cpu", show_default=True, help="auto, cpu, cuda, mps.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with every query's rank).")
def default_quality_cmd(device: str, as_json: bool) -> int:
    """The bundled default on real sample photos: text hit@1/3 and edited-copy recall@1.

    Compares the settings before tuning (avg pooling, ConSE top-20 at temperature 1) with
    the current ones; tune cases and kept-aside cases are reported apart.
    """
    report = run_default_quality(imagevec.create_encoder("default", device=device))
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (for tests: ``main(["finetune", ...])``)."""
    try:
        return int(cli.main(args=argv, standalone_mode=False) or 0)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
