"""Fixtures for the LlamaIndex integration tests: no network, no OpenAI defaults.

Every test here runs with outgoing connections refused (a test that reaches for the network
fails loudly instead of downloading weights, tiktoken files or telemetry) and with
``Settings.embed_model`` / ``Settings.llm`` set to mocks, so a code path that silently falls
back to LlamaIndex's OpenAI defaults shows up as wrong dimensions, not as a network call.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Settings
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from tests.support.color_encoder import ColorEncoder

from llama_index.embeddings.imagevec import ImagevecEmbedding


class SpyEncoder(ColorEncoder):
    """The colour encoder, counting calls into the loop and the size of each forward pass."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(device="cpu")
        self.loop_calls = 0
        self.batch_sizes: list[int] = []
        self.delay = delay

    def encode_images(self, sources: Any, **options: Any) -> Any:
        self.loop_calls += 1
        time.sleep(self.delay)
        return super().encode_images(sources, **options)

    def forward_images(self, pixel_values: Any) -> Any:
        self.batch_sizes.append(int(pixel_values.shape[0]))
        return super().forward_images(pixel_values)


class NetworkBlockedError(RuntimeError):
    """A test tried to open a network connection."""


def _refuse(self: socket.socket, address: Any, *args: Any, **kwargs: Any) -> None:
    if self.family == getattr(socket, "AF_UNIX", None) or _loopback(address):
        return _REAL_CONNECT(self, address)
    raise NetworkBlockedError(f"network access in a test: {address!r}")


def _loopback(address: Any) -> bool:
    """A local test server (e.g. ``imagevec serve`` on 127.0.0.1) is not the network."""
    return isinstance(address, tuple) and address[0] in ("127.0.0.1", "::1")


def _resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host in (None, "localhost", "127.0.0.1", "::1"):
        return _REAL_GETADDRINFO(host, *args, **kwargs)
    raise NetworkBlockedError(f"network access in a test: name lookup of {host!r}")


_REAL_CONNECT = socket.socket.connect
_REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _resolve)
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    saved_embed, saved_llm = Settings._embed_model, Settings._llm
    Settings.embed_model = MockEmbedding(embed_dim=1)
    Settings.llm = MockLLM()
    yield
    Settings._embed_model, Settings._llm = saved_embed, saved_llm


@pytest.fixture
def colour_embedding(color_encoder_instance: Any) -> ImagevecEmbedding:
    """``ImagevecEmbedding`` over the small colour encoder (``test-color``), small batches."""
    return ImagevecEmbedding(encoder=color_encoder_instance, embed_batch_size=4)


@pytest.fixture
def spy_encoder() -> SpyEncoder:
    """A fresh :class:`SpyEncoder` (set ``.delay`` to make each loop call slow)."""
    return SpyEncoder()
