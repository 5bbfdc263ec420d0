"""Process-wide start-up settings that make imagevec fast on a busy machine.

Each was measured again once query processes stopped importing torch (issue 22), and kept
only because it still pays (2-core machine shared with other work, load average 15-20; CPU
seconds, user + system, min / median of 7 fresh processes):

* :func:`prefer_passive_threads` (run when :mod:`imagevec` is imported): OpenMP worker
  threads sleep instead of spinning between parallel regions. Query, serve and index
  processes no longer load torch (ONNX Runtime has its own thread pool, told not to spin by
  the engine), but exporting, training, ``precision="bf16"`` and ``engine="torch"`` still
  run torch: the default's torch module, one image 0.04-0.14 s (min) with sleeping threads
  against 1.4-2.0 s with OpenMP's default; a batch of 16, 2.2-2.6 s against 6.4-7.5 s.
  It must be set before torch loads its OpenMP runtime, so it takes effect only when imagevec
  is imported first, and never overrides a value the user set.
* :func:`skip_override_checks` (the command line only): chromadb decorates its classes with
  ``overrides``' ``@override``, which checks each method's signature against its base at
  import time (a development aid). The command line marks the methods without the checks
  before chromadb is imported: importing chromadb after the CLI, 1.11 s CPU with this
  against 1.39 s without; a whole cold ``imagevec search``, 0.1-0.3 s CPU less.
* The command line's read-only runs (search, info...) end with ``os._exit`` after flushing
  (:func:`imagevec.cli.app.run`), skipping the interpreter's teardown of chromadb and the
  ONNX Runtime sessions: 0.2-0.35 s CPU of every cold search (CLIP-B/32 folder text query
  1.51 s against 1.70 s; default text 0.79 s against 1.03 s).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any


def prefer_passive_threads() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless it is set or torch is already imported."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _mark_override(method: Any = None, **_options: Any) -> Any:
    """``overrides.override`` without the signature checks: only marks the method."""

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        function.__override__ = True  # type: ignore[attr-defined]
        return function

    return mark(method) if method is not None else mark


def skip_override_checks() -> None:
    """Make ``overrides.override`` a marker for the chromadb import of this process.

    Does nothing once chromadb is imported, or when ``overrides`` is missing or unlike the
    one this was written against (a later chromadb may not use it).
    """
    if "chromadb" in sys.modules:
        return
    try:
        import overrides
    except ImportError:
        return
    if not all(callable(getattr(overrides, name, None)) for name in ("override", "overrides")):
        return
    overrides.override = _mark_override
    overrides.overrides = _mark_override
