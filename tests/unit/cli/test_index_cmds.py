"""What ``imagevec index`` says: the indexed files that are gone (named; pruned only on request,
as an unmounted drive looks like an empty folder), "loading model" before the progress bar's
rate, and a bad date as a usage error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagevec.cli import EXIT_OK, main
from imagevec.index import ImageIndex


def test_a_deleted_photo_is_named_and_pruned_only_on_request(
    tmp_path: Path, colour_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(tmp_path / "db")]
    assert main(["index", str(colour_dir), *db, "-m", "test-color"]) == EXIT_OK
    (colour_dir / "green.png").unlink()
    capsys.readouterr()

    assert main(["index", str(colour_dir), *db]) == EXIT_OK
    out = capsys.readouterr().out
    assert "1 indexed files are gone — --prune removes them" in out
    assert f"gone (still indexed): {colour_dir / 'green.png'}" in out
    assert main(["index", str(colour_dir), *db, "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["missing"] == [str(colour_dir / "green.png")]
    with ImageIndex(tmp_path / "db") as index:
        assert index.count() == 3  # kept: pruning is a choice

    assert main(["index", str(colour_dir), *db, "--prune", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["pruned"] == 1 and report["missing"] == []
    with ImageIndex(tmp_path / "db") as index:
        assert index.count() == 2
        assert index.add(colour_dir).missing == []


def test_files_outside_the_given_folders_are_not_reported(tmp_path: Path, colour_dir: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        (folder / "red.png").write_bytes((colour_dir / "red.png").read_bytes())
    with ImageIndex(tmp_path / "db", encoder="test-color") as index:
        index.add([one, two])
        (two / "red.png").unlink()
        assert index.add(one).missing == []
        assert index.add(two).missing == [str(two / "red.png")]


def test_progress_says_loading_model_before_the_rate(
    tmp_path: Path, colour_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(tmp_path / "db"), "-m", "test-color"]
    assert main(["index", str(colour_dir), *db, "--progress"]) == EXIT_OK
    err = capsys.readouterr().err
    assert "loading model" in err
    assert err.index("loading model") < err.index("indexing: 100%")


def test_a_bad_date_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from imagevec.cli import EXIT_USAGE

    for command in (["search", "cat"], ["dupes"]):
        assert main([*command, "--since", "2024-13-45", "--db", str(tmp_path)]) == EXIT_USAGE
        assert "bad date '2024-13-45'" in capsys.readouterr().err
        assert main([*command, "--until", "soon", "--db", str(tmp_path)]) == EXIT_USAGE
