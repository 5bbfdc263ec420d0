"""Evidence for the triplet fine-tuning defaults: does it help on new photos of known labels?

For each labelled set of :data:`~imagevec.bench.labelled_sets.SETS` (built offline from the
shipped sample photos: 5, 30 and 100 training images per label, colour and grey, 96-160 px)
and each seed, it fine-tunes the base model with :func:`~imagevec.training.loop.fit` and the
:data:`~imagevec.training.triplet.TRIPLET_DEFAULTS` recipe, then scores base and fine-tuned
model (leave-one-out recall@1 and mAP, as ``imagevec eval``) on

* **known** — new photos of the trained labels (crops from a zone of each photo cell that no
  training image comes from), the case fine-tuning is for;
* **unseen** — labels from photos that took no part in training.

Run (a few minutes on 2 CPU cores)::

    imagevec bench finetune --out runs/evidence        # or: python -m imagevec.bench finetune

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

from imagevec.bench.labelled_sets import SETS, build_set
from imagevec.evaluation import retrieval_metrics

__all__ = ["HEADER", "run_evidence"]


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
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Fine-tune on each set and seed; return one row per run (base and tuned metrics).

    Args:
        out: work folder (the sets, each run's exported model, ``evidence.json``).
        sets: names from :data:`~imagevec.bench.labelled_sets.SETS`.
        seeds: training seeds (the split of validation images, sampling, views).
        model: the base model.
        options: overrides of the recipe (``lr``, ``freeze``, ``epochs``, ``margin``,
            ``mining``, ``patience``, ``batch_size``...).
        log: where progress lines go.
    """
    from imagevec.encoders.registry import create_encoder
    from imagevec.training.loop import TrainConfig, fit
    from imagevec.training.triplet import TRIPLET_DEFAULTS, TripletObjective

    recipe = {**TRIPLET_DEFAULTS, **(options or {})}
    loss_keys = ("margin", "mining")
    config_keys = {k: v for k, v in recipe.items() if k not in loss_keys}
    root = Path(out)
    rows: list[dict[str, Any]] = []
    for name in sets:
        spec = SETS[name]
        folders = build_set(root / "sets", spec)
        encoder = create_encoder(model, device="cpu")
        base_state = _state(encoder)
        objective = TripletObjective(
            folders.train, views=spec.views, **{k: recipe[k] for k in loss_keys}
        )
        known, unseen = _load(folders.known, encoder), _load(folders.unseen, encoder)
        acts: dict[str, Any] = {}
        base: dict[str, Any] = {}
        for seed in seeds:
            _load_state(encoder, base_state)
            config = TrainConfig(
                out=root / "runs" / f"{name}-seed{seed}", seed=seed, progress=False, **config_keys
            )
            started = time.perf_counter()
            result = fit(encoder, objective, config, log=lambda _line: None)
            seconds = time.perf_counter() - started
            if not acts:  # the frozen layers are the same for every seed
                acts = {k: objective.capture_images(encoder, v[0]) for k, v in
                        (("known", known), ("unseen", unseen))}  # fmt: skip
                trained = _state(encoder)
                _load_state(encoder, base_state)
                base = {k: _score(objective, encoder, acts[k], *data)
                        for k, data in (("known", known), ("unseen", unseen))}  # fmt: skip
                _load_state(encoder, trained)
            tuned = {
                k: _score(objective, encoder, acts[k], *data)
                for k, data in (("known", known), ("unseen", unseen))
            }
            epochs = result.history[1:]
            steps = sum(e["steps"] for e in epochs) * objective.p * objective.k
            step_s = sum(e.get("train_seconds", 0.0) for e in epochs)
            row = {
                "set": name, "seed": seed, "best_epoch": result.best_epoch,
                "base": base, "tuned": tuned, "seconds": round(seconds, 1),
                "train_images_per_s": round(steps / step_s, 1) if step_s else None,
                "validation": {"before": result.before, "best": result.best},
                "describe": objective.describe(),
            }  # fmt: skip
            rows.append(row)
            log(_line(row))
    (root / "evidence.json").write_text(
        json.dumps({"recipe": recipe, "model": model, "rows": rows}, indent=2, default=str)
    )
    return rows


def _line(row: dict[str, Any]) -> str:
    b, t = row["base"], row["tuned"]
    return (
        f"| {row['set']:<10} | {row['seed']} | {b['known']['recall@1']:.3f} -> "
        f"{t['known']['recall@1']:.3f} | {b['known']['map']:.3f} -> {t['known']['map']:.3f} | "
        f"{b['unseen']['recall@1']:.3f} -> {t['unseen']['recall@1']:.3f} | "
        f"{b['unseen']['map']:.3f} -> {t['unseen']['map']:.3f} | {row['best_epoch']} | "
        f"{row['seconds']:.0f} s | {row['train_images_per_s'] or 0:.0f} |"
    )


HEADER = (
    "| set        | seed | known R@1 (base -> tuned) | known mAP | unseen R@1 | unseen mAP "
    "| best epoch | time | train img/s |\n"
    "|------------|------|---------------|---------------|---------------|---------------"
    "|---|------|-----|"
)
