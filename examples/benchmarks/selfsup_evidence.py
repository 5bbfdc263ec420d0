"""Evidence for fine-tuning without labels: SimCLR, MoCo and BYOL on the labelled sets,
with the labels hidden from training and used only to score.

For each set of ``labelled_sets.SETS`` (its ``train`` photos, labels dropped), method and
seed, the user's recipe runs (``imagevec.training.finetune.SELFSUP_DEFAULTS``: top layer
group over 4 cached views, the epoch chosen by the label-free copy-finding check on 20% of
the photos held out, the base kept when no epoch beats it). Then:

* **labelled scores** of the base and of the export, leave-one-out recall@1 and mAP on the
  set's ``known`` photos (new photos of the same scenes) and ``unseen`` photos (other scenes);
* **the export rule** for each blend ``t`` in ``--blends``: ``base + t (best - base)``,
  kept unless the check scores it below the base (``selection.try_blend``, as ``fit`` does);
  the table's rows are the default ``t``, ``evidence.json`` has them all;
* **does the check track retrieval?** Every epoch of every run is scored both ways (the
  check, on held-out photos; labelled recall on ``known``): the correlation of their changes
  from the base, and how often the check's verdict ("better than the base", the loop's rule)
  agrees with labelled recall@1's;
* time per run and images/s of a training step (each image is two views), with the load
  average (``os.getloadavg``) before and after the run.

Run from a source checkout::

    python examples/benchmarks/selfsup_evidence.py --out runs/selfsup --seeds 0,1,2
    python examples/benchmarks/selfsup_evidence.py --sets colour-5 --methods byol --seeds 0
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling runners, as run.py does

from labelled_sets import SETS, build_set

from imagevec.evaluation import retrieval_metrics

__all__ = ["run_selfsup", "summarise"]

METHODS = ("simclr", "moco", "byol")


def _load(folder: Path, encoder: Any) -> tuple[list[Any], list[str]]:
    from imagevec.training.data import cache_for, scan_labelled_folder

    paths, labels = scan_labelled_folder(folder)
    cache = cache_for(encoder, paths)
    return [cache[i] for i in range(len(cache))], labels


class _Labelled:
    """Labelled scores of the encoder as it is now, through the objective's cache."""

    def __init__(self, objective: Any, encoder: Any, data: dict[str, tuple[list, list]]) -> None:
        self.encoder, self.objective, self.labels = encoder, objective, {}
        self.acts: dict[str, torch.Tensor | None] = {}
        for key, (images, labels) in data.items():
            self.labels[key] = labels
            pixels = [objective._eval_pixels(encoder, images[i : i + 16])
                      for i in range(0, len(images), 16)]  # fmt: skip
            if objective.cache is not None:
                self.acts[key] = torch.cat([objective.cache.capture(p) for p in pixels])
            else:
                self.acts[key] = None
                self.pixels = {**getattr(self, "pixels", {}), key: pixels}

    def __call__(self) -> dict[str, dict[str, float]]:
        out = {}
        with torch.inference_mode():
            for key, labels in self.labels.items():
                acts = self.acts[key]
                if acts is not None:
                    parts = [self.objective.cache.forward(acts[i : i + 64])
                             for i in range(0, len(acts), 64)]  # fmt: skip
                else:
                    parts = [self.encoder.forward_images(p) for p in self.pixels[key]]
                vectors = torch.cat(parts).float().cpu().numpy()
                scores = retrieval_metrics(vectors, labels)
                out[key] = {k: scores[k] for k in ("recall@1", "map", "queries")}
        return out


def _objectives(folder: Path, views: int) -> dict[str, Any]:
    from imagevec.training.byol import BYOLObjective
    from imagevec.training.moco import MoCoObjective
    from imagevec.training.simclr import SimCLRObjective

    return {
        "simclr": SimCLRObjective(folder, views=views),
        "moco": MoCoObjective(folder, views=views),
        "byol": BYOLObjective(folder, views=views),
    }


def run_selfsup(
    out: str | Path,
    *,
    sets: Sequence[str] = tuple(SETS),
    methods: Sequence[str] = METHODS,
    seeds: Sequence[int] = (0, 1, 2),
    blends: Sequence[float] = (1.0, 0.5, 0.25),
    model: str = "default",
    options: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Train each set x method x seed without labels; score with the labels (module doc).

    Args:
        out: work folder (the sets, each run's export, ``selfsup.json``).
        sets: names from ``labelled_sets.SETS``.
        methods: ``simclr``, ``moco``, ``byol``.
        seeds: training seeds (the held-out split, sampling, views' pairing, heads).
        blends: the ``interpolate`` values whose export rule is scored (1.0: none).
        model: the base model.
        options: overrides of :data:`~imagevec.training.finetune.SELFSUP_DEFAULTS` and of
            :class:`~imagevec.training.loop.TrainConfig`.
        log: where progress lines go.
    """
    from imagevec.encoders.factory import create_encoder
    from imagevec.training.finetune import SELFSUP_DEFAULTS
    from imagevec.training.loop import TrainConfig

    root = Path(out)
    recipe = {**SELFSUP_DEFAULTS, **(options or {})}
    views = recipe.pop("views")
    recipe["interpolate"] = 1.0  # the blends are scored below, from the same training
    rows: list[dict[str, Any]] = []
    for name in sets:
        folders = build_set(root / "sets", SETS[name])
        encoder = create_encoder(model, device="cpu", engine="torch")
        data = {k: _load(getattr(folders, k), encoder) for k in ("known", "unseen")}
        objectives = _objectives(folders.train, views)
        first = None
        for method in methods:
            objective = objectives[method]
            if first is not None:
                objective.reuse(first)  # the decoded photos and cached views
            labelled = None
            for seed in seeds:
                config = TrainConfig(out=root / "runs" / f"{name}-{method}-seed{seed}", seed=seed,
                                     progress=False, **recipe)  # fmt: skip
                if labelled is None:  # the objective's cache is filled by its first setup
                    objective.setup(encoder, config)
                    first = first or objective
                    labelled = _Labelled(objective, encoder, data)
                row = _one_run(encoder, objective, config, labelled, blends)
                rows.append({"set": name, "method": method, "seed": seed, **row})
                log(line(rows[-1], blends[0] if len(blends) == 1 else DEFAULT_BLEND))
                payload = {"model": model, "recipe": {**recipe, "views": views}, "rows": rows}
                (root / "selfsup.json").write_text(json.dumps(payload, indent=2, default=str))
    return rows


def _one_run(
    encoder: Any, objective: Any, config: Any, labelled: _Labelled, blends: Sequence[float]
) -> dict[str, Any]:
    """One training (no blend), every epoch scored with the labels too; then each blend's
    export rule; the encoder ends with the base weights again."""
    from imagevec.training.loop import fit
    from imagevec.training.selection import restore, snapshot

    per_epoch: list[dict[str, Any]] = []
    load = os.getloadavg()[0]
    started = time.perf_counter()
    trainable = objective.trainable(encoder, config.freeze)
    base_weights = snapshot(trainable)
    base = labelled()
    result = fit(encoder, objective, config, log=lambda _line: None,
                 on_epoch_end=lambda record: per_epoch.append(
                     {"epoch": record["epoch"], **labelled()}))  # fmt: skip
    seconds = time.perf_counter() - started
    best_weights = snapshot(trainable)  # the best epoch as trained, or the base
    ends = (base_weights, best_weights)
    exports = {
        str(t): _export(encoder, objective, trainable, ends, result, t, labelled) for t in blends
    }
    restore(trainable, base_weights)  # the next run starts from the base
    encoder.weights_changed()
    epochs = result.history[1:]
    step_s = sum(e.get("train_seconds", 0.0) for e in epochs)
    images = sum(e["steps"] for e in epochs) * objective.batch_size
    return {
        "best_epoch": result.best_epoch, "base": base, "exports": exports,
        "check": [{"epoch": e["epoch"], **e["metrics"]} for e in result.history],
        "labelled": [{"epoch": 0, **base}, *per_epoch],
        "seconds": round(seconds, 1),
        "train_images_per_s": round(images / step_s, 1) if step_s else None,
        "load": [round(load, 2), round(os.getloadavg()[0], 2)],
        "describe": objective.describe(),
    }  # fmt: skip


def _export(
    encoder: Any,
    objective: Any,
    trainable: list[Any],
    ends: tuple[Any, Any],
    result: Any,
    t: float,
    labelled: _Labelled,
) -> dict[str, Any]:
    """The labelled scores of what ``fit`` would export with ``interpolate=t`` (the blend
    rule of ``selection.try_blend`` on the check); the encoder ends with ``ends[1]``."""
    from imagevec.training.loop import _evaluate
    from imagevec.training.selection import restore, try_blend

    if result.best_epoch == 0 or t >= 1:
        return {"kept": False, **labelled()}

    def check() -> dict[str, float]:
        encoder.weights_changed()
        return _evaluate(encoder, objective)

    blend = try_blend(trainable, ends, result.before, t, check)
    encoder.weights_changed()
    scores = {"kept": blend["exported"], "check": blend["metrics"], **labelled()}
    restore(trainable, ends[1])
    encoder.weights_changed()
    return scores


#: The blend the table's rows show (the default of ``finetune simclr | moco | byol``).
DEFAULT_BLEND = 0.5


def line(row: dict[str, Any], t: float) -> str:
    """One markdown row: known / unseen recall@1 and mAP, base -> export (blend ``t``)."""
    b, e = row["base"], row["exports"][str(t)]
    n = b["known"]["queries"]
    gained = round((e["known"]["recall@1"] - b["known"]["recall@1"]) * n)
    export = "base (NO IMPROVEMENT)" if row["best_epoch"] == 0 else f"ep {row['best_epoch']}"
    if row["best_epoch"] and e.get("kept"):
        export += f" x{t:g}"
    return (
        f"| {row['set']} | {row['method']} | {row['seed']} | "
        f"{b['known']['recall@1']:.3f} -> {e['known']['recall@1']:.3f} ({gained:+d}) | "
        f"{b['known']['map']:.3f} -> {e['known']['map']:.3f} | "
        f"{b['unseen']['recall@1']:.3f} -> {e['unseen']['recall@1']:.3f} | "
        f"{b['unseen']['map']:.3f} -> {e['unseen']['map']:.3f} | {export} | "
        f"{row['seconds']:.0f} s | {row['train_images_per_s'] or 0:.0f} | "
        f"{row['load'][0]:.1f}-{row['load'][1]:.1f} |"
    )


HEADER = (
    "| set | method | seed | known R@1 (queries gained) | known mAP | unseen R@1 | unseen mAP "
    "| export | time | train img/s | load |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def summarise(rows: Sequence[dict[str, Any]], blends: Sequence[float]) -> dict[str, Any]:
    """Per blend: runs up / same / down by known recall@1 queries, the worst loss; and the
    check's agreement with labelled retrieval over every scored epoch."""
    from imagevec.training.selection import better

    summary: dict[str, Any] = {"blends": {}}
    for t in blends:
        changes = []
        for row in rows:
            b, e = row["base"]["known"], row["exports"][str(t)]["known"]
            changes.append(round((e["recall@1"] - b["recall@1"]) * b["queries"]))
        by_set: dict[str, list[int]] = {}
        for row, change in zip(rows, changes, strict=True):
            by_set.setdefault(row["set"], []).append(change)
        summary["blends"][str(t)] = {
            "up": sum(c > 0 for c in changes), "same": sum(c == 0 for c in changes),
            "down": sum(c < 0 for c in changes), "worst": min(changes, default=0),
            "sets_with_a_gain": sorted(s for s, c in by_set.items() if max(c) > 0),
        }  # fmt: skip
    d_check, d_map, d_r1 = [], [], []
    agree = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}  # truth: labelled recall@1 above the base
    by_map = dict.fromkeys(agree, 0)  # truth: labelled mAP up by more than one query's worth
    for row in rows:
        check0, lab0 = row["check"][0], row["labelled"][0]["known"]
        labelled = {r["epoch"]: r["known"] for r in row["labelled"]}
        for check in row["check"][1:]:
            lab = labelled.get(check["epoch"])
            if lab is None:
                continue
            d_check.append(check["map"] - check0["map"])
            d_map.append(lab["map"] - lab0["map"])
            d_r1.append(lab["recall@1"] - lab0["recall@1"])
            says = better(check, check0, check0)
            truth = lab["recall@1"] > lab0["recall@1"]
            agree[("t" if says == truth else "f") + ("p" if says else "n")] += 1
            truth = lab["map"] - lab0["map"] > 1 / lab0["queries"]
            by_map[("t" if says == truth else "f") + ("p" if says else "n")] += 1
    if len(d_check) > 2:
        summary["epochs"] = len(d_check)
        summary["pearson_check_map_vs_known_map"] = float(np.corrcoef(d_check, d_map)[0, 1])
        summary["pearson_check_map_vs_known_r1"] = float(np.corrcoef(d_check, d_r1)[0, 1])
        summary["spearman_check_map_vs_known_map"] = _spearman(d_check, d_map)
    summary["verdicts"] = agree
    summary["verdicts_by_map"] = by_map
    return summary


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


@click.command()
@click.option("--out", "-o", default="runs/selfsup", show_default=True,
              type=click.Path(file_okay=False, path_type=Path))  # fmt: skip
@click.option("--sets", default=",".join(SETS), show_default=True)
@click.option("--methods", default=",".join(METHODS), show_default=True)
@click.option("--seeds", default="0,1,2", show_default=True)
@click.option("--blends", default="1,0.5,0.25", show_default=True,
              help="interpolate values whose export rule is scored.")  # fmt: skip
@click.option("--model", "-m", default="default", show_default=True)
@click.option("--epochs", type=int, default=None, help="Override the recipe.")
@click.option("--lr", type=float, default=None, help="Override the recipe.")
@click.option("--refit", is_flag=True,
              help="Once the check chose the epoch count, train again from the base on every "
              "photo (held-out ones too); the blends are then of the refit model.")  # fmt: skip
def main(out: Path, sets: str, methods: str, seeds: str, blends: str, model: str,
         epochs: int | None, lr: float | None, refit: bool) -> None:  # fmt: skip
    """SimCLR / MoCo / BYOL without labels on the evidence sets, scored with the labels."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    split = [s.strip() for s in sets.split(",") if s.strip()]
    blend_list = [float(b) for b in blends.split(",")]
    options = {k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None}
    if refit:
        options["refit"] = True
    click.echo(HEADER)
    rows = run_selfsup(
        out, sets=split, methods=methods.split(","), seeds=[int(s) for s in seeds.split(",")],
        blends=blend_list, model=model, options=options, log=click.echo,
    )  # fmt: skip
    summary = summarise(rows, blend_list)
    click.echo(json.dumps(summary, indent=2))
    (Path(out) / "summary.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
