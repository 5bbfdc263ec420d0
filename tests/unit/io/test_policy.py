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


def test_a_stamp_naming_a_hub_model_does_not_download_it(
    tmp_path: Path, colour_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chromadb
    import huggingface_hub

    from imagevec.errors import ModelLoadError
    from imagevec.index import ImageIndex

    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as index:
        index.add(colour_dir)
    collection = chromadb.PersistentClient(path=str(db)).get_collection("images")
    hub_model = "hf:someone/an-unknown-model"
    stamp = {"imagevec:model": hub_model, "imagevec:config": f'{{"model": "{hub_model}"}}'}
    collection.modify(metadata={**collection.metadata, **stamp})

    downloads: list[str] = []

    def spy(repo_id: str, *args: object, local_files_only: bool = False, **kw: object) -> str:
        if not local_files_only:
            downloads.append(repo_id)
        raise huggingface_hub.errors.LocalEntryNotFoundError("not in the cache")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", spy)
    with pytest.raises(ModelLoadError, match="only the stored stamp names it"):
        ImageIndex(db).search("red")
    assert downloads == []
