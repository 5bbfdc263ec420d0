"""A collection whose encoder stamp lacks ``model`` is a damaged stamp (exit 3), not KeyError;
a config without it takes the stamp's."""

from __future__ import annotations

import json
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings

from imagevec.cli import EXIT_ERROR, main
from imagevec.errors import StoreDamagedError
from imagevec.index import ImageIndex


@pytest.mark.parametrize("where", ["stamp", "config", "both"])
def test_a_stamp_without_model_is_damaged(
    tmp_path: Path, colour_dir: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "db"
    with ImageIndex(db, encoder="test-color") as index:
        index.add(colour_dir)
    client = chromadb.PersistentClient(path=str(db), settings=Settings(anonymized_telemetry=False))
    collection = client.get_collection("images")
    metadata = dict(collection.metadata)
    if where in ("stamp", "both"):
        del metadata["imagevec:model"]
    if where in ("config", "both"):
        config = json.loads(metadata["imagevec:config"])
        del config["model"]
        metadata["imagevec:config"] = json.dumps(config)
    collection.modify(metadata=metadata)
    del client

    capsys.readouterr()
    if where == "config":  # the stamp still names the model: it rebuilds the encoder
        assert main(["search", "red", "--db", str(db)]) == 0
        return
    assert main(["search", "red", "--db", str(db)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "damaged" in err and "model" in err and "Traceback" not in err
    with pytest.raises(StoreDamagedError, match="model"), ImageIndex(db) as index:
        index.search("red")
