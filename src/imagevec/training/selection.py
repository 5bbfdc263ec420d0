"""Model selection: which weights a fine-tuning run exports, and the words that say so.

The rules, in the order :func:`~imagevec.training.loop.fit` applies them:

1. **Better than the base.** Epoch 0 is the model before training, a candidate like any
   other. An epoch replaces the best so far only when its held-out mAP (MRR with one relevant
   item) is higher by more than one query's worth (``1 / queries``, at least
   :data:`MIN_GAIN`) *and* its recall@1 is not below the base model's; ties go to the earlier
   epoch, so to the base (:func:`better`). When no epoch beats the base, the base weights are
   exported and the verdict says ``NO IMPROVEMENT``.
2. **Blend.** With ``interpolate`` < 1 the export is the weight-space ensemble
   ``base + t * (best - base)`` (WiSE-FT, Wortsman et al. 2022), kept unless it scores below
   the base on the held-out photos (:func:`not_below`, :func:`try_blend`); else the best
   epoch as trained.
3. **Refit.** Once the epoch count is chosen, the objective may train again from the base on
   every image for that many epochs; that model (blended with the same ``t`` when the blend
   was kept) is exported. Nothing is left to score it on: the blend of the chosen epoch is
   its validated stand-in.
4. **Verdict.** One line, headlined by the *exported* model's held-out scores
   (:func:`verdict`).

Example:
    >>> base = {"recall@1": 0.80, "map": 0.60, "queries": 20}
    >>> better({"recall@1": 0.85, "map": 0.66, "queries": 20}, base, base)
    True
    >>> better({"recall@1": 0.85, "map": 0.64, "queries": 20}, base, base)  # < 1/20: noise
    False
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "MIN_GAIN",
    "Weights",
    "better",
    "mix",
    "not_below",
    "restore",
    "snapshot",
    "try_blend",
    "verdict",
]

#: The least held-out mAP gain for an epoch to count as better than the best so far.
MIN_GAIN = 0.002

#: The weights of the trainable modules, one state dict per module.
Weights = list[dict[str, torch.Tensor]]


def _key(metrics: dict[str, float]) -> str:
    return "map" if "map" in metrics else "mrr"  # one relevant item (CLIP pairs): MRR


def better(metrics: dict[str, float], best: dict[str, float], base: dict[str, float]) -> bool:
    """Does an epoch with ``metrics`` replace the ``best`` so far (rule 1 of the module doc)?

    mAP leads (it uses the whole ranking, so it is steadier than recall@1 on a small
    held-out set) and must gain more than one query's worth; recall@1 must not fall below
    the base model's.
    """
    if not metrics:  # nothing held out: the last epoch is the best we know
        return True
    key = _key(metrics)
    gain = metrics.get(key, 0.0) - best.get(key, 0.0)
    # Less than one query's worth (one query going from a miss to a perfect ranking) is noise.
    noise = 1.0 / metrics["queries"] if metrics.get("queries") else 0.0
    floor = max(MIN_GAIN, noise)
    return gain > floor and metrics.get("recall@1", 0.0) >= base.get("recall@1", 0.0)


def not_below(metrics: dict[str, float], base: dict[str, float]) -> bool:
    """Neither recall@1 nor mAP (MRR) below the base model's (nothing held out: True)."""
    key = _key(metrics)
    return all(metrics.get(k, 0.0) >= base.get(k, 0.0) for k in ("recall@1", key))


def snapshot(modules: Sequence[nn.Module]) -> Weights:
    """A detached copy of the modules' weights."""
    return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules]


def restore(modules: Sequence[nn.Module], saved: Weights) -> None:
    """Load :func:`snapshot` weights back into ``modules``."""
    with torch.no_grad():
        for module, state in zip(modules, saved, strict=True):
            module.load_state_dict(state)


def mix(base: Weights, tuned: Weights, t: float) -> Weights:
    """``base + t * (tuned - base)`` tensor by tensor (integer buffers: ``tuned``'s)."""
    return [
        {k: a[k] + t * (b[k] - a[k]) if b[k].is_floating_point() else b[k] for k in b}
        for a, b in zip(base, tuned, strict=True)
    ]


def try_blend(
    modules: Sequence[nn.Module],
    ends: tuple[Weights, Weights],
    before: dict[str, float],
    t: float,
    score: Callable[[], dict[str, float]],
) -> dict[str, Any]:
    """Put ``base + t * (best - base)`` (``ends`` = base, best) into ``modules`` and
    ``score`` it on the held-out photos; it stays (``exported``) unless it scores below the
    base model there (rule 2: the best epoch already beat the base by more than noise; a
    blend half-way keeps part of that gain, which may be under the noise floor), else the
    best epoch goes back. ``score`` must see the weights as they are in ``modules``."""
    base, best = ends
    restore(modules, mix(base, best, t))
    metrics = score()
    keep = not_below(metrics, before)
    if not keep:
        restore(modules, best)
    return {"interpolate": t, "metrics": metrics, "exported": keep}


def _pair(before: dict[str, float], after: dict[str, float]) -> str:
    key = _key(before)
    return (
        f"recall@1 {before['recall@1']:.3f} -> {after['recall@1']:.3f}, "
        f"{key} {before[key]:.3f} -> {after[key]:.3f}"
    )


def verdict(
    before: dict[str, float],
    best: dict[str, float],
    epoch: int,
    out: Path,
    blend: dict[str, Any] | None = None,
    refit: dict[str, Any] | None = None,
) -> str:
    """The plain-words summary: what was exported and why, headlined by the scores of the
    model in ``out`` (the blend when it was kept; with a refit, its validated stand-in)."""
    if epoch == 0 and before:
        key = _key(before)
        nums = f"held-out recall@1 {before['recall@1']:.3f}, {key} {before[key]:.3f}"
        return (
            f"NO IMPROVEMENT: no epoch beat the base model on the held-out photos ({nums}); "
            f"{out} holds the base weights unchanged"
        )
    model = f"epoch {epoch}"
    if refit is not None:
        model = f"{refit['epochs']} epochs on all {refit['images']} images"
    kept = blend is not None and blend["exported"]
    if kept:
        assert blend is not None
        t = blend["interpolate"]
        exported = f"base + {t:g} x ({model} - base), a weight-space ensemble"
        scores = blend["metrics"]
    else:
        exported, scores = f"{model} as trained", best
    if not before:
        return (
            f"nothing was held out: the last epoch ({epoch}) is the best known; "
            f"exported {exported} to {out}"
        )
    stand_in = " (its validated stand-in, the same recipe on the held-out split)" if refit else ""
    line = f"exported {exported} to {out}: held-out {_pair(before, scores)}{stand_in}"
    if kept:
        line += f"; epoch {epoch} alone scored {_pair(before, best)}"
    elif blend is not None:
        line += (
            f"; base + {blend['interpolate']:g} x (epoch {epoch} - base) scored below the base "
            f"({_pair(before, blend['metrics'])})"
        )
    return line
