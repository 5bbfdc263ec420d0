"""The research runners of ``examples/benchmarks/`` (not in the package), for tests.

They are scripts that import each other by file name (``from labelled_sets import ...``);
:func:`load` puts their folder on ``sys.path`` once and imports one by name.

Example:
    >>> labelled_sets = load("labelled_sets")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

FOLDER = Path(__file__).resolve().parents[2] / "examples" / "benchmarks"


def load(name: str) -> ModuleType:
    """Import ``examples/benchmarks/<name>.py`` (its folder on ``sys.path``, as when run)."""
    if str(FOLDER) not in sys.path:
        sys.path.insert(0, str(FOLDER))
    return importlib.import_module(name)
