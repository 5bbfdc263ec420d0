"""Test-only start-up hook: records who imports a watched package (torch, transformers).

Python imports ``sitecustomize`` at start-up from the first folder on ``sys.path`` that has
one; the torch-free tests put this folder first on ``PYTHONPATH`` and name a log file in
``IMAGEVEC_TEST_IMPORT_LOG``. A finder at the front of ``sys.meta_path`` then appends each
watched top-level package's first import, with the stack that asked for it, to that file, and
lets the import go on (refusing it would let a ``try: import torch`` fallback hide the
import). Because it writes when the import happens, it works however the process ends:
``os._exit``, a signal, a server stopped from outside.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

_LOG = os.environ.get("IMAGEVEC_TEST_IMPORT_LOG")
_WATCHED = frozenset(os.environ.get("IMAGEVEC_TEST_IMPORT_WATCH", "torch,transformers").split(","))


class _Watch:
    """A meta-path finder that finds nothing and notes watched imports."""

    def __init__(self, log: str) -> None:
        self.log, self.seen = log, set()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        top = name.partition(".")[0]
        if top in _WATCHED and top not in self.seen:
            self.seen.add(top)
            stack = "".join(traceback.format_stack(limit=30)[:-1])
            with open(self.log, "a", encoding="utf-8") as sink:
                sink.write(f"{top} imported (pid {os.getpid()}, argv {sys.argv}) by:\n{stack}\n")
        return None


if _LOG:
    sys.meta_path.insert(0, _Watch(_LOG))
