"""Evidence for the triplet fine-tuning defaults: does it help on new photos of known labels?

For each labelled set of :data:`~labelled_sets.SETS` (built offline from the
shipped sample photos: 5, 30 and 100 training images per label, colour and grey, 96-160 px)
and each seed, it fine-tunes the base model with :func:`~imagevec.training.loop.fit` and the
:data:`~imagevec.training.triplet.TRIPLET_DEFAULTS` recipe, then scores base and fine-tuned
model (leave-one-out recall@1 and mAP, as ``imagevec eval``) on

* **known** — new photos of the trained labels (crops from a zone of each photo cell that no
  training image comes from), the case fine-tuning is for;
* **unseen** — labels from photos that took no part in training.

The model scored is the one the run exports, as a user gets it (epoch chosen on held-out
photos, refit on every image, blended with the base). ``--build-seed N`` cuts the sets
afresh (other crops of the same cells): evidence that the recipe was not fitted to one cut.

Run (a few minutes on 2 CPU cores)::

    python examples/benchmarks/run.py finetune --out runs/evidence
    python examples/benchmarks/run.py finetune --seeds 0,1,2,3,4,5 --build-seed 1 --no-refit

The frozen layers' activations are computed once per image and view (the trainer's cache),
so the run time is mostly that one forward pass per image.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from labelled_sets import SETS, build_set  # the sibling file (this folder is on sys.path)

from imagevec.evaluation import retrieval_metrics

__all__ = ["HEADER", "SELFSUP_HEADER", "run_evidence", "run_selfsup_evidence", "run_simclr_first"]


def _score(objective: Any, encoder: Any, acts: Any, images: list[Any], labels: list[str]) -> Any:
    with torch.no_grad():
        vectors = objective.embed(encoder, acts, images)
    return retrieval_metrics(vectors, labels)


def _state(encoder: Any) -> dict[str, dict[str, torch.Tensor]]:
    return {
        name: {k: v.detach().clone() for k, v in module.state_dict().items()}
        for name, module in encoder.modules().items()
    }


def _load_state(encoder: Any, state: dict[str, dict[str, torch.Tensor]]) -> None:
    for name, module in encoder.modules().items():
        module.load_state_dict(state[name])


def _load(folder: Path, encoder: Any) -> tuple[list[Any], list[str]]:
    from imagevec.training.data import cache_for, scan_labelled_folder

    paths, labels = scan_labelled_folder(folder)
    cache = cache_for(encoder, paths)
    return [cache[i] for i in range(len(cache))], labels


def run_evidence(
    out: str | Path,
    *,
    sets: Sequence[str] = tuple(SETS),
    seeds: Sequence[int] = (0, 1, 2),
    model: str = "default",
    options: dict[str, Any] | None = None,
    grid: Sequence[dict[str, Any]] = ({},),
    build_seed: int = 0,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Fine-tune on each set, recipe and seed; return one row per run (base and tuned metrics).

    Args:
        out: work folder (the sets, each run's exported model, ``evidence.json``).
        sets: names from :data:`~labelled_sets.SETS`.
        seeds: training seeds (the split of validation images, sampling, views).
        model: the base model.
        options: overrides of the recipe (``lr``, ``freeze``, ``epochs``, ``margin``,
            ``mining``, ``lr_decay``, ``patience``, ``batch_size``...).
        grid: recipes to compare, each a dict of overrides on top of ``options`` (a sweep:
            the decoded images and the frozen layers' cache are shared by all of them).
        build_seed: cut the sets afresh with this seed (other crops of the same cells:
            evidence that a recipe was not fitted to one cut).
        log: where progress lines go.
    """
    from imagevec.encoders.factory import create_encoder
    from imagevec.training.triplet import TRIPLET_DEFAULTS, TripletObjective

    root = Path(out)
    rows: list[dict[str, Any]] = []
    for name in sets:
        spec = SETS[name]
        sets_root = root / ("sets" if build_seed == 0 else f"sets-{build_seed}")
        folders = build_set(sets_root, spec, seed=build_seed)
        encoder = create_encoder(model, device="cpu", engine="torch")
        base_state = _state(encoder)
        known, unseen = _load(folders.known, encoder), _load(folders.unseen, encoder)
        base = {
            k: _score_full(encoder, *data) for k, data in (("known", known), ("unseen", unseen))
        }
        objectives: dict[Any, TripletObjective] = {}
        acts: dict[Any, dict[str, Any]] = {}
        for extra in grid:
            recipe = {**TRIPLET_DEFAULTS, **(options or {}), **extra}
            loss = {k: recipe.pop(k) for k in LOSS_KEYS}
            objective = objectives.get(recipe["freeze"])
            if objective is None:  # one cache per frozen depth
                objective = TripletObjective(folders.train, **loss)
                if spec.views is not None:  # else the fine-tuning default, as users get it
                    objective.views = spec.views
                objectives[recipe["freeze"]] = objective
            objective.margin, objective.mining = loss["margin"], loss["mining"]
            for seed in seeds:
                _load_state(encoder, base_state)
                row = _run(encoder, objective, recipe, name, seed, root, known, unseen,
                           acts.setdefault(recipe["freeze"], {}))  # fmt: skip
                variant = ", ".join(f"{k}={v}" for k, v in extra.items())
                recipe_used = {**recipe, **loss}
                rows.append({**row, "base": base, "recipe": recipe_used, "variant": variant,
                             "build_seed": build_seed})  # fmt: skip
                log(_line(rows[-1]))
        (root / "evidence.json").write_text(
            json.dumps({"model": model, "rows": rows}, indent=2, default=str)
        )
    return rows


def run_simclr_first(
    out: str | Path,
    *,
    sets: Sequence[str] = ("grey-30", "colour-100"),
    seeds: Sequence[int] = (0, 1, 2),
    model: str = "default",
    options: dict[str, Any] | None = None,
    simclr_options: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Do labelled users gain from SimCLR first? Per set: ``finetune simclr`` with its
    defaults on the set's training photos (labels unused, seed 0, what ``finetune auto``
    runs), then the triplet evidence recipe from that export, beside the same recipe from
    ``model``. Rows as :func:`run_evidence`'s, with ``start`` (``"base"`` or ``"simclr"``),
    ``variant`` and the SimCLR run's ``simclr`` summary (best epoch, seconds end to end).
    """
    from imagevec.training.finetune import finetune_selfsup

    root = Path(out)
    rows: list[dict[str, Any]] = []
    for name in sets:
        folders = build_set(root / "sets", SETS[name])
        first = root / f"{name}-simclr"
        started = time.perf_counter()
        quiet = {"progress": False, "log": lambda _line: None}
        result = finetune_selfsup(
            "simclr", folders.train, out=first, model=model, seed=0, **quiet,
            **(simclr_options or {}),
        )  # fmt: skip
        seconds = round(time.perf_counter() - started, 1)
        simclr = {"best_epoch": result.best_epoch, "seconds": seconds}
        for start, base in (("base", model), ("simclr", str(first))):
            runs = run_evidence(
                root / f"from-{start}", sets=[name], seeds=seeds, model=base, options=options,
                log=quiet["log"],
            )  # fmt: skip
            for row in runs:
                rows.append({**row, "start": start, "variant": f"from {start}", "simclr": simclr})
                log(_line(rows[-1]))
    (root / "simclr_first.json").write_text(json.dumps({"rows": rows}, indent=2, default=str))
    return rows


LOSS_KEYS = ("margin", "mining")


def _score_full(encoder: Any, images: list[Any], labels: list[str]) -> Any:
    with torch.no_grad():
        vectors = encoder.embed_images(images, batch_size=32)
    return retrieval_metrics(vectors, labels)


def _run(
    encoder: Any,
    objective: Any,
    recipe: dict[str, Any],
    name: str,
    seed: int,
    root: Path,
    known: tuple[list[Any], list[str]],
    unseen: tuple[list[Any], list[str]],
    acts: dict[str, Any],
) -> dict[str, Any]:
    """One fine-tuning run, scored on the set's known and unseen folders (``acts``: their
    frozen-layer activations, filled on the first run of a frozen depth)."""
    from imagevec.training.loop import TrainConfig, fit

    config = TrainConfig(out=root / "runs" / f"{name}-seed{seed}", seed=seed, progress=False,
                         **recipe)  # fmt: skip
    started = time.perf_counter()
    result = fit(encoder, objective, config, log=lambda _line: None)
    seconds = time.perf_counter() - started
    tuned = {}
    for key, (images, labels) in (("known", known), ("unseen", unseen)):
        if key not in acts:
            acts[key] = objective.capture_images(encoder, images) if objective.cache else None
        tuned[key] = _score(objective, encoder, acts[key], images, labels)
    epochs = result.history[1:]
    steps = sum(e["steps"] for e in epochs) * objective.p * objective.k
    step_s = sum(e.get("train_seconds", 0.0) for e in epochs)
    return {
        "set": name, "seed": seed, "best_epoch": result.best_epoch, "tuned": tuned,
        "blended": bool(result.interpolated and result.interpolated["exported"]),
        "refit": result.refit,
        "seconds": round(seconds, 1),
        "train_images_per_s": round(steps / step_s, 1) if step_s else None,
        "validation": {"before": result.before, "best": result.best},
        "describe": objective.describe(),
    }  # fmt: skip


def _line(row: dict[str, Any]) -> str:
    b, t = row["base"], row["tuned"]
    cut = f" (cut {row['build_seed']})" if row.get("build_seed") else ""
    return (
        f"| {row['set'] + cut:<10} | {row['seed']} | {b['known']['recall@1']:.3f} -> "
        f"{t['known']['recall@1']:.3f} | {b['known']['map']:.3f} -> {t['known']['map']:.3f} | "
        f"{b['unseen']['recall@1']:.3f} -> {t['unseen']['recall@1']:.3f} | "
        f"{b['unseen']['map']:.3f} -> {t['unseen']['map']:.3f} | {row['best_epoch']}"
        f"{' refit' if row.get('refit') else ''}{' blend' if row.get('blended') else ''} | "
        f"{row['seconds']:.0f} s | {row['train_images_per_s'] or 0:.0f} |"
        + (f" {row['variant']} |" if row.get("variant") else "")
    )


HEADER = (
    "| set        | seed | known R@1 (base -> tuned) | known mAP | unseen R@1 | unseen mAP "
    "| best epoch | time | train img/s |\n"
    "|------------|------|---------------|---------------|---------------|---------------"
    "|---|------|-----|"
)


def run_selfsup_evidence(
    out: str | Path,
    *,
    set_name: str = "grey-30",
    seeds: Sequence[int] = (0, 1, 2),
    methods: Sequence[str] = ("simclr", "moco"),
    model: str = "default",
    options: dict[str, Any] | None = None,
    views: int = 4,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Self-supervised fine-tuning on a set's training photos *without their labels*, then
    recall@1 / mAP on its known and unseen folders: SimCLR (in-batch negatives) vs MoCo
    (momentum keys + a queue of past keys). Every epoch counts (no held-out selection), so
    the numbers show what the loss itself does.

    Args:
        out: work folder.
        set_name: a :data:`~labelled_sets.SETS` name (its ``train`` folder).
        seeds: training seeds.
        methods: ``simclr`` and/or ``moco``.
        model: the base model.
        options: :class:`~imagevec.training.loop.TrainConfig` overrides (default: 10 epochs,
            top group only, lr 1e-3, batch 32).
        views: cached augmented views per image (the frozen layers run once per view).
        log: where progress lines go.
    """
    from imagevec.encoders.factory import create_encoder
    from imagevec.training.loop import TrainConfig, fit
    from imagevec.training.moco import MoCoObjective
    from imagevec.training.simclr import SimCLRObjective

    root = Path(out)
    folders = build_set(root / "sets", SETS[set_name])
    encoder = create_encoder(model, device="cpu", engine="torch")
    base_state = _state(encoder)
    data = {k: _load(getattr(folders, k), encoder) for k in ("known", "unseen")}
    base = {k: _score_full(encoder, *v) for k, v in data.items()}
    rows = [{"method": "base", "seed": None, **base}]
    log(_ssl_line(rows[-1]))
    recipe = {"epochs": 10, "freeze": -1, "lr": 1e-3, "patience": None, **(options or {})}
    objectives = {
        "simclr": SimCLRObjective(folders.train, holdout=0.0, views=views),
        "moco": MoCoObjective(folders.train, holdout=0.0, views=views),
    }
    for seed in seeds:
        for method in methods:
            _load_state(encoder, base_state)
            config = TrainConfig(out=root / "selfsup" / f"{method}-seed{seed}", seed=seed,
                                 progress=False, **recipe)  # fmt: skip
            started = time.perf_counter()
            fit(encoder, objectives[method], config, log=lambda _line: None)
            scores = {k: _score_full(encoder, *v) for k, v in data.items()}
            seconds = round(time.perf_counter() - started, 1)
            rows.append({"method": method, "seed": seed, **scores, "seconds": seconds})
            log(_ssl_line(rows[-1]))
    payload = {"set": set_name, "recipe": recipe, "rows": rows}
    (root / "selfsup.json").write_text(json.dumps(payload, indent=2, default=str))
    return rows


def _ssl_line(row: dict[str, Any]) -> str:
    k, u = row["known"], row["unseen"]
    return (
        f"| {row['method']} | {row['seed'] if row['seed'] is not None else '-'} | "
        f"{k['recall@1']:.3f} | {k['map']:.3f} | {u['recall@1']:.3f} | {u['map']:.3f} | "
        f"{row.get('seconds', 0):.0f} s |"
    )


SELFSUP_HEADER = (
    "| method | seed | known R@1 | known mAP | unseen R@1 | unseen mAP | time |\n"
    "|---|---|---|---|---|---|---|"
)
