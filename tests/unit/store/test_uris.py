"""Red-team cases for file names: names that are not UTF-8 are indexed losslessly (never abort
the batch), names with escape sequences never reach the terminal raw (JSON stays exact)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from imagevec.cli import EXIT_OK, EXIT_PARTIAL, main
from imagevec.cli.output import printable
from imagevec.index import ImageIndex
from imagevec.io.decode import load_image

LATIN1 = os.fsdecode(b"caf\xe9.jpg")  # 'caf\udce9.jpg': valid on POSIX, not UTF-8
ESCAPE = "x\x1b[31mred\x1b[0m.jpg"


@pytest.fixture
def named_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (40, 30), (20, 120, 220)).save(folder / "good.jpg")
    try:
        shutil.copy(folder / "good.jpg", folder / LATIN1)
        shutil.copy(folder / "good.jpg", folder / ESCAPE)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses such names")
    Image.new("RGB", (40, 30), (220, 20, 20)).save(folder / "red.png")
    return folder


def test_a_name_that_is_not_utf8_is_indexed_losslessly(tmp_path: Path, named_dir: Path) -> None:
    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        report = index.add(named_dir)
        assert (report.indexed, report.failed) == (4, [])
        hits = index.search(image=named_dir / "good.jpg", k=4)
        odd = [hit for hit in hits if hit.uri == str(named_dir / LATIN1)]
        assert len(odd) == 1  # the exact path comes back, bytes and all
        assert os.fsencode(odd[0].uri).endswith(b"/caf\xe9.jpg")
        assert load_image(odd[0].uri).size == (40, 30)
        assert odd[0].metadata["filename"] == "caf\\xe9.jpg"  # printable form
        assert index.add(named_dir).unchanged == 4  # re-indexing finds its records again
        (named_dir / LATIN1).unlink()
        assert index.prune([named_dir]) == 1 and index.count() == 3


def test_a_field_that_cannot_be_stored_fails_that_file_only(
    tmp_path: Path, named_dir: Path
) -> None:
    def fields(path: Path) -> dict[str, str]:
        return {"note": path.name}  # not UTF-8 for one file

    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        report = index.add(named_dir, metadatas=fields)
        assert report.indexed == 3 and index.count() == 3
        assert [Path(f.source).name for f in report.failed] == [LATIN1]
        assert "not valid UTF-8" in report.failed[0].reason


def test_cli_escapes_names_on_the_terminal_and_json_is_exact(
    tmp_path: Path, named_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "db")
    assert main(["index", str(named_dir), "--db", db, "-m", "test-color"]) == EXIT_OK
    assert "indexed 4," in capsys.readouterr().out
    assert main(["search", "--image", str(named_dir / "good.jpg"), "--db", db, "-k", "4"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\udce9" not in out
    assert "x\\x1b[31mred\\x1b[0m.jpg" in out and "caf\\xe9.jpg" in out
    assert main(["search", "--image", str(named_dir / "good.jpg"), "--db", db, "--json"]) == 0
    uris = {hit["uri"] for hit in json.loads(capsys.readouterr().out)}
    assert {str(named_dir / ESCAPE), str(named_dir / LATIN1)} <= uris


def test_cli_failure_list_is_escaped(
    tmp_path: Path, named_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (named_dir / "bad\x1b]0;owned\x07.jpg").write_bytes(b"not a jpeg")
    code = main(["index", str(named_dir), "--db", str(tmp_path / "db"), "-m", "test-color"])
    out = capsys.readouterr().out
    assert code == EXIT_PARTIAL and "\x1b" not in out and "\x07" not in out
    assert "failed: " + printable(named_dir / "bad\x1b]0;owned\x07.jpg") in out


def test_printable_keeps_ordinary_text() -> None:
    assert printable("日本語 photo (1).jpg") == "日本語 photo (1).jpg"
    assert printable("evil\u202egpj.exe") == "evil\\u202egpj.exe"
