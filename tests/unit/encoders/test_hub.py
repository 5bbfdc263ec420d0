"""A hub model on a machine without network fails at once with one message (no retries)."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

import imagevec
from imagevec.encoders import hub


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """HF_HUB_OFFLINE unset, and every TCP connect fails as with no DNS."""
    calls: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(address)
        raise socket.gaierror(-2, "Name or service not known")

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket, "create_connection", refuse)
    hub._unreachable.cache_clear()
    yield calls
    hub._unreachable.cache_clear()


def test_an_uncached_hub_model_fails_at_once(
    no_network: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    started = time.perf_counter()
    with pytest.raises(imagevec.ModelLoadError) as caught:
        imagevec.create_encoder("hf:imagevec-tests/not-in-any-cache")
    assert time.perf_counter() - started < 5
    message = str(caught.value)
    assert "cannot reach huggingface.co:443 (Name or service not known)" in message
    assert "Hugging Face cache: not there" in message and len(message) < 700
    assert "Retrying" not in caplog.text
    assert hub._unreachable.cache_info().misses == 1  # probed once, for every file


def test_behind_a_proxy_the_download_itself_decides(
    no_network: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert hub._unreachable("https://huggingface.co") is None and no_network == []
