"""Fixtures for the LlamaIndex integration tests: no network, no OpenAI defaults.

Every test here runs with outgoing connections refused (a test that reaches for the network
fails loudly instead of downloading weights, tiktoken files or telemetry) and with
``Settings.embed_model`` / ``Settings.llm`` set to mocks, so a code path that silently falls
back to LlamaIndex's OpenAI defaults shows up as wrong dimensions, not as a network call.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Settings
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM

from llama_index.embeddings.imagevec import ImagevecEmbedding


class NetworkBlockedError(RuntimeError):
    """A test tried to open a network connection."""


def _refuse(self: socket.socket, address: Any, *args: Any, **kwargs: Any) -> None:
    if self.family == getattr(socket, "AF_UNIX", None):
        return _REAL_CONNECT(self, address)
    raise NetworkBlockedError(f"network access in a test: {address!r}")


_REAL_CONNECT = socket.socket.connect


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
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
