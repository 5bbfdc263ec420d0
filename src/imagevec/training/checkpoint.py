"""Resumable training state and the exported model, both written atomically.

* :func:`save_state` / :func:`load_state` — model + optimizer + epoch + RNG states in one
  ``torch.save`` file, written to a temporary name and renamed (a crash never leaves half a
  checkpoint). Loaded with ``weights_only=True``.
* :func:`export_encoder` — ``encoder.save`` into a temporary folder, then each file moved
  into place, so ``create_encoder(out_dir)`` never sees a mix of two epochs' files.

Example:
    >>> save_state(out / "checkpoints" / "last.pt", {"epoch": 3, ...})     # doctest: +SKIP
    >>> export_encoder(encoder, out)                                       # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from imagevec.errors import ConfigError

if TYPE_CHECKING:
    from imagevec.encoders.base import Encoder

__all__ = [
    "capture_rng",
    "check_compatible",
    "export_encoder",
    "load_state",
    "restore_rng",
    "save_state",
    "write_json",
]


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` atomically (temp file in the same folder, then
    ``os.replace``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_state` (tensors and plain data only)."""
    try:
        return torch.load(Path(path), map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise ConfigError(f"cannot read checkpoint {path}: {exc}") from exc


def check_compatible(
    state: dict[str, Any], objective: str, meta: dict[str, Any], out: Path
) -> None:
    """Refuse to resume a checkpoint written by another objective or base model."""
    if state.get("objective") != objective or state.get("meta") != meta:
        raise ConfigError(
            f"the checkpoint in {out} is from another run ({state.get('objective')}, "
            f"{state.get('meta')}); use another out folder, or the same objective and model"
        )


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)


def capture_rng(rng: random.Random) -> dict[str, Any]:
    """The RNG states a resumed run needs: the loop's ``random.Random``, torch, numpy."""
    np_state: Any = np.random.get_state()
    return {
        "python": _encode_python_state(rng.getstate()),
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
    }


def restore_rng(rng: random.Random, saved: dict[str, Any]) -> None:
    """Put back the states from :func:`capture_rng`."""
    rng.setstate(_decode_python_state(saved["python"]))
    torch.set_rng_state(saved["torch"])
    kind, keys, *rest = saved["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))


def _encode_python_state(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, torch.tensor(internal, dtype=torch.int64), gauss]


def _decode_python_state(saved: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss = saved
    return (version, tuple(int(v) for v in internal.tolist()), gauss)


def export_encoder(encoder: Encoder, directory: str | Path) -> Path:
    """Save ``encoder`` into ``directory`` so that ``create_encoder(directory)`` loads it.

    The family's ``save`` writes into a temporary sibling folder first; its entries then
    replace those in ``directory`` one by one (other files there, such as checkpoints, stay).
    """
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target))
    try:
        encoder.save(staging)
        for entry in sorted(staging.iterdir()):
            destination = target / entry.name
            if entry.is_dir():
                shutil.rmtree(destination, ignore_errors=True)
            os.replace(entry, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
