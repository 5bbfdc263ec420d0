"""Red-team cases for small leaks of trust: outside ``path_roots`` a missing file and an
existing one get the same answer; opening a store never downloads a model nobody named."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from imagevec.errors import UnsafeSourceError
from imagevec.io.decode import load_image
from imagevec.io.policy import SourcePolicy


def test_outside_the_roots_existing_and_missing_files_look_the_same(tmp_path: Path) -> None:
    inside, outside = tmp_path / "in", tmp_path / "out"
    inside.mkdir()
    outside.mkdir()
    Image.new("RGB", (8, 8)).save(outside / "secret.png")
    (inside / "link.png").symlink_to(outside / "nothing.png")
    policy = SourcePolicy(path_roots=(inside,))
    answers = set()
    for probe in (
        str(outside / "secret.png"),
        str(outside / "nothing.png"),
        outside / "secret.png",
        outside / "nothing.png",
        str(inside / "link.png"),
        f"file://{outside / 'nothing.png'}",
    ):
        with pytest.raises(UnsafeSourceError) as caught:
            load_image(probe, policy=policy)
        answers.add(caught.value.reason)
    assert answers == {"path is outside the allowed directories (path_roots)"}
    closed = SourcePolicy(allow_paths=False)
    for probe in (str(outside / "secret.png"), str(outside / "nothing.png")):
        with pytest.raises(UnsafeSourceError, match="path_roots"):
            load_image(probe, policy=closed)
