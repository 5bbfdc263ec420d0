"""Expensive test objects built once per test process (fixtures and helpers share them)."""

from __future__ import annotations

import functools

import imagevec


@functools.cache
def default_encoder() -> imagevec.Encoder:
    """The bundled default encoder on CPU in float32; never change its weights or attributes."""
    return imagevec.create_encoder("default", device="cpu")


@functools.cache
def default_torch_encoder() -> imagevec.Encoder:
    """The bundled default's torch module (``engine="torch"``); never change it."""
    return imagevec.create_encoder("default", device="cpu", engine="torch")
