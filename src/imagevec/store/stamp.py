"""The encoder stamp: which encoder wrote a collection, kept in its (scalar) metadata.

Keys: ``imagevec:name``, ``imagevec:fingerprint`` (hash of the weights and options),
``imagevec:dim``, ``imagevec:pooling``, ``imagevec:space``, ``imagevec:modalities``,
``imagevec:model`` (the name to load it again: ``default``, ``clip-vit-b32``, ``hf:<id>``,
a folder), ``imagevec:config`` (JSON of the options that rebuild it; device, dtype and
precision left out), ``imagevec:precision`` (what the writer ran: ``fp32``, ``bf16``, ``int8``;
recorded, never checked: vectors of every precision are comparable) and ``imagevec:format``.
The config only ever names a model for :func:`imagevec.create_encoder`; it never runs code
from the store.

Example:
    >>> stamp = make_stamp(encoder.identity, encoder.config)           # doctest: +SKIP
    >>> check(read_stamp(collection.metadata), encoder, "photos", "db") # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from imagevec.errors import EncoderMismatchError, StoreDamagedError

PREFIX = "imagevec:"
IDENTITY_KEYS = ("name", "fingerprint", "dim", "pooling", "space", "modalities")
CHECKED = ("name", "fingerprint", "dim", "pooling", "space")
#: config keys about how an encoder runs, not what its vectors mean (left out of the stamp)
RUN_OPTIONS = ("device", "dtype", "precision", "engine")


def run_precision(config: Mapping[str, Any]) -> str:
    """The precision an encoder config runs in: ``fp32``, ``bf16`` or ``int8``."""
    if config.get("precision"):
        return str(config["precision"])
    return "bf16" if config.get("dtype") in ("bfloat16", "bf16") else "fp32"


def make_stamp(identity: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """Collection metadata for an encoder: its identity plus the config that rebuilds it."""
    options = {k: v for k, v in config.items() if k not in RUN_OPTIONS}
    stamp = {f"{PREFIX}{k}": identity[k] for k in IDENTITY_KEYS}
    stamp[f"{PREFIX}model"] = str(options.get("model", identity["name"]))
    stamp[f"{PREFIX}config"] = json.dumps(options, sort_keys=True, default=str)
    stamp[f"{PREFIX}precision"] = run_precision(config)
    stamp[f"{PREFIX}format"] = 1
    return stamp


def encoder_stamp(encoder: Any) -> dict[str, Any]:
    """The collection metadata that stamps ``encoder`` (what :func:`make_stamp` makes of it)."""
    return make_stamp(encoder.identity, encoder.config)


def read_stamp(metadata: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stamp in a collection's metadata, without the prefix; None if unstamped."""
    stamp = {
        key[len(PREFIX) :]: value
        for key, value in (metadata or {}).items()
        if key.startswith(PREFIX)
    }
    if not stamp:
        return None
    try:
        config = json.loads(stamp.get("config") or "{}")
    except (TypeError, ValueError):
        config = None
    if not isinstance(config, dict):
        raise StoreDamagedError(
            "the collection metadata", f"the encoder stamp's {PREFIX}config is not a JSON object"
        )
    if not isinstance(stamp.get("model"), str) or not stamp["model"]:
        raise StoreDamagedError(
            "the collection metadata", f"the encoder stamp has no {PREFIX}model (the encoder name)"
        )
    config.setdefault("model", stamp["model"])  # the name that rebuilds it, said once
    stamp["config"] = config
    return stamp


def check_name(stamp: Mapping[str, Any], model: str, collection: str, location: str) -> None:
    """Cheap check before loading anything: the model name must be the stamped one."""
    if stamp.get("model") != model:
        raise EncoderMismatchError(collection, location, stamp, {"model": model})


def check(stamp: Mapping[str, Any] | None, encoder: Any, collection: str, location: str) -> None:
    """Raise :class:`EncoderMismatchError` unless ``encoder`` is the one that wrote the stamp."""
    mine = {**encoder.identity, "model": encoder.config.get("model", encoder.name)}
    if stamp is None:
        raise EncoderMismatchError(collection, location, None, mine)
    check_identity(stamp, mine, collection, location)


def check_identity(
    stamp: Mapping[str, Any], mine: Mapping[str, Any], collection: str, location: str
) -> None:
    """Raise :class:`EncoderMismatchError` unless the identity ``mine`` (a read stamp, or an
    encoder's identity plus ``model``) is the one that wrote ``stamp``."""
    if any(str(stamp.get(k)) != str(mine[k]) for k in CHECKED):
        raise EncoderMismatchError(collection, location, stamp, mine)
