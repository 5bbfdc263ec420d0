"""Process-wide start-up settings that make imagevec fast on a busy machine.

* :func:`prefer_passive_threads` (run when :mod:`imagevec` is imported): OpenMP worker
  threads sleep instead of spinning between parallel regions. Measured on a 2-core machine
  with one other busy process: one EfficientNet-Lite0 forward 0.36-0.86 s with spinning
  threads, 0.035-0.043 s with sleeping ones; a batch of 16, 2.1-2.8 s against 0.9-1.0 s.
  Spinning only pays on an otherwise idle machine, and there it gains little for
  convolution-sized work. It must be set before torch loads its OpenMP runtime, so it takes
  effect only when imagevec is imported first, and never overrides a value the user set.
* :func:`skip_override_checks` (the command line only): chromadb decorates its classes with
  ``overrides``' ``@override``, which checks each method's signature against its base at
  import time (a development aid; ~0.4 s of every ``imagevec search``). The command line
  marks the methods without the checks before chromadb is imported.
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
