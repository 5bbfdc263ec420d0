"""What text queries are good for: one advice per encoder, shown by info, the API and MCP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import imagevec
from imagevec.cli import EXIT_OK, main
from imagevec.encoders.advice import text_search_advice


def test_the_default_is_told_to_name_objects_and_warned_about_its_vocabulary() -> None:
    advice = text_search_advice({"model": "default", "modalities": "image,text"})
    assert "ImageNet" in advice and "the moon" in advice and "rank by them" in advice


def test_an_image_only_encoder_says_text_search_is_unavailable() -> None:
    assert "not available" in text_search_advice({"model": "resnet50", "modalities": "image"})


def test_clip_is_told_to_write_captions() -> None:
    advice = text_search_advice({"model": "clip-vit-b32", "modalities": "image,text"})
    assert "caption" in advice


def test_info_prints_the_advice_of_each_collection(
    tmp_path: Path, photo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "db"
    with imagevec.ImageIndex(db, encoder="test-color") as index:
        index.add([photo_dir])
    assert main(["info", "--db", str(db)]) == EXIT_OK
    assert "text queries: Describe what the photo shows" in capsys.readouterr().out
    assert main(["info", "--db", str(db), "--json"]) == EXIT_OK
    (entry,) = json.loads(capsys.readouterr().out)["collections"]
    assert entry["text_search"] == text_search_advice(entry["stamp"])
