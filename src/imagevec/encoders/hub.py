"""Loading Hugging Face models from a hub id or a local folder, with one clear error.

Local folders and the HF cache are tried first (no network); the hub only after that, and
``trust_remote_code`` is never enabled. Safetensors are preferred by ``transformers``;
``.bin`` checkpoints load with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pickle
import socket
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from imagevec.errors import ModelLoadError

MODEL_TYPE_TO_FAMILY = {
    "clip": "clip",
    "vit": "vit",
    "dinov2": "vit",
    "deit": "vit",
    "resnet": "resnet",
}


_LOCAL_ONLY: ContextVar[bool] = ContextVar("imagevec_local_only", default=False)


def _offline() -> bool:
    if _LOCAL_ONLY.get():
        return True
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")


_PROXIES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@functools.lru_cache(maxsize=4)
def _unreachable(endpoint: str) -> str | None:
    """Why the hub cannot be reached (one quick TCP connect), or None; checked once per
    process before any download, so that a machine without network fails at once instead
    of after huggingface_hub's retries (~25 s of "Retrying in 8s" lines). Behind a proxy
    the check is left to the download itself."""
    if any(os.environ.get(name) for name in _PROXIES):
        return None
    parts = urlsplit(endpoint)
    host, port = (
        parts.hostname or "huggingface.co",
        parts.port or (443 if parts.scheme != "http" else 80),
    )
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        return f"cannot reach {host}:{port} ({exc.strerror or exc})"
    return None


def _hub_problem() -> str | None:
    """``"hub: ..."`` when the hub must not or cannot be asked, else None."""
    if _offline():
        return "hub: not tried (HF_HUB_OFFLINE is set)"
    why = _unreachable(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return f"hub: not tried, {why}" if why else None


@contextlib.contextmanager
def local_only() -> Iterator[None]:
    """Inside this block, models load from folders and the local cache only, never the hub
    (used when a stored stamp, not the user, names the model)."""
    token = _LOCAL_ONLY.set(True)
    try:
        yield
    finally:
        _LOCAL_ONLY.reset(token)


def _fix_hint(location: str) -> str:
    return (
        f"How to fix: (1) pass a local folder that holds the model "
        f"(create_encoder('/path/to/folder'), saved with save_pretrained); (2) fill the Hugging "
        f"Face cache on a machine with network (`hf download {location}`; `hf` comes with "
        f"huggingface-hub) and copy ~/.cache/huggingface; or (3) allow network access "
        f"(HF_HUB_OFFLINE unset)."
    )


_FOLDER_ERRORS = (OSError, ValueError, EOFError, RuntimeError, pickle.UnpicklingError)
"""What loading a damaged or hostile model folder raises (bad JSON is a ValueError)."""


def from_pretrained(
    model_cls: Any, location: str, *, revision: str | None = None, **kw: Any
) -> Any:
    """``model_cls.from_pretrained`` from a folder, the cache, then the hub; one clear error.

    Args:
        model_cls: a ``transformers`` class with ``from_pretrained``.
        location: a local folder or a hub id.
        revision: a hub revision (branch, tag or commit).
        **kw: passed on to ``from_pretrained``.
    """
    kw = {**kw, "trust_remote_code": False}
    if Path(location).is_dir():
        try:
            return model_cls.from_pretrained(location, **kw)
        except _FOLDER_ERRORS as exc:
            why = _short(exc)
            if isinstance(exc, pickle.UnpicklingError):
                why = "its weights file is a pickle that is not plain tensors (refused: " + why
                why += "); save the weights as safetensors"
            raise ModelLoadError(
                f"cannot load {model_cls.__name__} from folder {location}: {why}"
            ) from exc
    tried = []
    try:
        return model_cls.from_pretrained(location, revision=revision, local_files_only=True, **kw)
    except (OSError, ValueError) as exc:
        tried.append(f"Hugging Face cache: {_cache_miss(exc)}")
    problem = _hub_problem()
    if problem:
        tried.append(problem)
    else:
        try:
            return model_cls.from_pretrained(location, revision=revision, **kw)
        except (OSError, ValueError) as exc:
            tried.append(f"hub: {_short(exc)}")
    raise ModelLoadError(
        f"cannot load model {location!r} ({model_cls.__name__}). Tried: a local folder (none "
        f"named {location!r}); " + "; ".join(tried) + ". " + _fix_hint(location)
    )


def json_file(path: Path) -> dict[str, Any]:
    """A JSON object from a model folder; :class:`ModelLoadError` if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: not valid JSON ({_short(exc)})") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"cannot read {path}: a JSON object was expected")
    return data


def read_json(location: str, filename: str, *, revision: str | None = None) -> dict[str, Any]:
    """Read a JSON file of a model folder or hub repo (cache first); ``{}`` if it has none."""
    folder = Path(location)
    if folder.is_dir():
        path = folder / filename
        return json_file(path) if path.is_file() else {}
    from huggingface_hub import hf_hub_download

    tried = []
    for local_only in (True, False):
        where = "Hugging Face cache" if local_only else "hub"
        problem = None if local_only else _hub_problem()
        if problem:
            tried.append(problem)
            break
        try:
            downloaded = hf_hub_download(
                location, filename, revision=revision, local_files_only=local_only
            )
            return json.loads(Path(downloaded).read_text())
        except Exception as exc:
            if type(exc).__name__ == "EntryNotFoundError":
                return {}
            tried.append(f"{where}: {_cache_miss(exc) if local_only else _short(exc)}")
    raise ModelLoadError(
        f"cannot read {filename} of model {location!r}. Tried: "
        + "; ".join(tried)
        + ". "
        + _fix_hint(location)
    )


def infer_family(location: str, *, revision: str | None = None) -> str:
    """Which encoder family loads a model, from the ``model_type`` of its ``config.json``."""
    config = read_json(location, "config.json", revision=revision)
    model_type = config.get("model_type")
    if not model_type:
        raise ModelLoadError(f"model {location!r} has no config.json with a model_type")
    family = MODEL_TYPE_TO_FAMILY.get(model_type)
    if family is None:
        raise ModelLoadError(
            f"model {location!r} is a {model_type!r} model; imagevec loads "
            f"{', '.join(sorted(MODEL_TYPE_TO_FAMILY))}"
        )
    return family


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) < 300 else text[:300] + "..."


def _cache_miss(exc: BaseException) -> str:
    """A cache look-up's failure in a few words (the libraries' texts repeat the hub advice)."""
    text = str(exc)
    return "not there" if "local_files_only" in text or "disk cache" in text else _short(exc)
