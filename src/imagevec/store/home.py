"""Where the index lives when no folder is given: one place per user, as rclip does.

In order:

1. ``IMAGEVEC_DB`` (environment), when set;
2. ``./imagevec-db`` in the working folder, when it already holds a store (where imagevec
   kept it before it had a home; such a store is still found, and the CLI names it);
3. ``imagevec/db`` in the platform's data folder: ``~/.local/share`` on Linux,
   ``~/Library/Application Support`` on macOS, ``%LOCALAPPDATA%`` on Windows; an absolute
   ``$XDG_DATA_HOME`` is honoured on every platform.

So ``imagevec index ~/Photos`` in one folder and ``imagevec search cat`` in another use the
same index. (Written out rather than taken from platformdirs so that an absolute
``$XDG_DATA_HOME`` moves it on every platform, which tests and sandboxes rely on.)

Example:
    >>> default_db(environ={"IMAGEVEC_DB": "/data/photos-index"})
    PosixPath('/data/photos-index')
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ENV", "LEGACY_DB", "data_folder", "default_db", "legacy_db"]

ENV = "IMAGEVEC_DB"
#: The folder name looked for in the working folder (imagevec's default before it had a home).
LEGACY_DB = "imagevec-db"


def data_folder(environ: Mapping[str, str] | None = None, platform: str = sys.platform) -> Path:
    """imagevec's folder in the platform's per-user data folder."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    xdg = env.get("XDG_DATA_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "imagevec"
    if platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = home / ".local" / "share"
    return base / "imagevec"


def legacy_db(cwd: Path | None = None) -> Path | None:
    """``./imagevec-db`` (absolute) when the working folder holds a store there, else None."""
    folder = (cwd or Path.cwd()) / LEGACY_DB
    return folder.absolute() if (folder / "chroma.sqlite3").is_file() else None


def default_db(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path:
    """The store folder used when none is given (see the module doc), as an absolute path."""
    env = os.environ if environ is None else environ
    if env.get(ENV):
        return Path(env[ENV]).expanduser().absolute()
    return legacy_db(cwd) or data_folder(env) / "db"
