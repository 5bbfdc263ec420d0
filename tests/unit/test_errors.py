"""Errors carry structured fields, speak Python, survive pickling; the CLI adds flag hints."""

from __future__ import annotations

import os
import pickle

import pytest

import imagevec
from imagevec.cli.hints import error_text
from imagevec.errors import (
    CollectionNotFoundError,
    EncoderMismatchError,
    NoServerError,
    NotFoundError,
    NotIndexedError,
    StoreLockedError,
    StoreNotFoundError,
)

STAMP = {"model": "clip-vit-b32", "name": "clip-vit-b32", "fingerprint": "aa", "dim": 512}
ERRORS = [
    EncoderMismatchError("photos", "db", STAMP, {**STAMP, "fingerprint": "bb"}),
    EncoderMismatchError("photos", "db", None, {"model": "default"}),
    StoreNotFoundError("db"),
    CollectionNotFoundError("photos", "db", ["images"]),
    NotIndexedError("x.jpg", "photos"),
    NoServerError("http://localhost:8000", "connection refused"),
    StoreLockedError("db", "process 12 is writing to it", write=True),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_library_messages_name_no_cli_flag_and_survive_pickling(
    error: imagevec.ImagevecError,
) -> None:
    assert " --" not in str(error), str(error)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and str(again) == str(error)
    assert vars(again) == vars(error)


def test_not_found_kinds_are_not_config_errors() -> None:
    for error in ERRORS[2:5]:
        assert isinstance(error, NotFoundError) and not isinstance(error, imagevec.ConfigError)
    assert isinstance(ERRORS[5], ConnectionError)
    assert not isinstance(ERRORS[5], imagevec.ConfigError)


def test_mismatch_names_what_differs_without_contradiction() -> None:
    error = ERRORS[0]
    assert error.differs == ("fingerprint",)
    assert "fingerprint: stamped 'aa', this encoder 'bb'" in str(error)
    assert "encoder='clip-vit-b32'" in str(error)


def test_cli_turns_fields_into_flag_hints() -> None:
    assert "--model clip-vit-b32" in error_text(ERRORS[0])
    assert "--collection" in error_text(ERRORS[1])
    assert "--db DIR" in error_text(ERRORS[2]) and os.path.abspath("db") in str(ERRORS[2])
    assert "--collection" in error_text(ERRORS[3]) and "images" in error_text(ERRORS[3])
    assert "--chroma-url" in error_text(ERRORS[6])
