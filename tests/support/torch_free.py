"""Running imagevec in a subprocess that records any import of torch or transformers.

:func:`watched_environment` puts :mod:`tests.support.import_watch` (a ``sitecustomize``) first
on ``PYTHONPATH``; :func:`heavy_imports` reads what it recorded (empty: none happened).

Example:
    >>> env = watched_environment(tmp_path / "imports.log")            # doctest: +SKIP
    >>> subprocess.run([IMAGEVEC, "search", "a cat", "--db", db], env=env)  # doctest: +SKIP
    >>> assert heavy_imports(tmp_path / "imports.log") == ""          # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WATCH = Path(__file__).resolve().parent / "import_watch"
IMAGEVEC = Path(sys.executable).with_name("imagevec")


def watched_environment(log: Path, **extra: str) -> dict[str, str]:
    """Offline, telemetry off, this checkout first, and the import watch writing to ``log``."""
    paths = [str(WATCH), str(REPO / "src"), str(REPO / "integrations"), str(REPO)]
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1", **extra}
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["IMAGEVEC_TEST_IMPORT_LOG"] = str(log)
    return env


def heavy_imports(log: Path) -> str:
    """What the watch recorded (who imported torch / transformers), or ``""``."""
    return log.read_text(encoding="utf-8") if log.exists() else ""
