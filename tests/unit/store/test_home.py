"""The index has a home: one store per user, found from any working folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagevec.cli import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from imagevec.store.home import data_folder, default_db


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake user data folder and an empty working folder."""
    data = tmp_path / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.delenv("IMAGEVEC_DB", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return data


def test_the_platform_data_folders() -> None:
    env = {"HOME": "/home/me"}
    assert data_folder(env, "linux") == Path("/home/me/.local/share/imagevec")
    assert data_folder({**env, "XDG_DATA_HOME": "/x"}, "linux") == Path("/x/imagevec")
    assert data_folder({**env, "XDG_DATA_HOME": "rel"}, "linux") == Path(
        "/home/me/.local/share/imagevec"
    )
    mac = Path("/home/me/Library/Application Support/imagevec")
    assert data_folder(env, "darwin") == mac
    win = {"HOME": "C:/Users/me", "LOCALAPPDATA": "C:/Users/me/AppData/Local"}
    assert data_folder(win, "win32") == Path("C:/Users/me/AppData/Local/imagevec")


def test_index_here_search_there(
    home: Path, tmp_path: Path, colour_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert main(["index", str(colour_dir), "-m", "test-color"]) == EXIT_OK
    assert (home / "imagevec" / "db" / "chroma.sqlite3").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["search", "red", "-k", "1", "--json"]) == EXIT_OK
    assert Path(json.loads(capsys.readouterr().out)[0]["uri"]).stem == "red"


def test_imagevec_db_moves_it(
    home: Path, tmp_path: Path, colour_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEVEC_DB", str(tmp_path / "moved"))
    assert main(["index", str(colour_dir), "-m", "test-color"]) == EXIT_OK
    assert (tmp_path / "moved" / "chroma.sqlite3").is_file()
    assert not (home / "imagevec").exists()
    assert default_db() == tmp_path / "moved"


def test_an_index_in_the_working_folder_is_still_found_and_named(
    home: Path, colour_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["index", str(colour_dir), "--db", "imagevec-db", "-m", "test-color"]) == EXIT_OK
    capsys.readouterr()
    assert main(["search", "blue", "-k", "1", "--json"]) == EXIT_OK
    out = capsys.readouterr()
    assert Path(json.loads(out.out)[0]["uri"]).stem == "blue"
    assert str(Path("imagevec-db").absolute()) in out.err
    assert not (home / "imagevec").exists()


def test_no_index_names_the_absolute_path_and_how_to_point_elsewhere(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "cat"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert str(home / "imagevec" / "db") in err
    assert "--db DIR" in err and "IMAGEVEC_DB" in err
    assert main(["search", "cat", "--db", "rel-db"]) == EXIT_ERROR
    assert str(Path("rel-db").absolute()) in capsys.readouterr().err


def test_library_default_is_the_same_home(home: Path) -> None:
    import imagevec
    from imagevec.index import list_collections

    with imagevec.ImageIndex() as index:
        assert index.path == home / "imagevec" / "db"
    with pytest.raises(imagevec.StoreNotFoundError, match="IMAGEVEC_DB"):
        list_collections()


def test_bench_cold_on_a_store_without_a_demo_collection(
    home: Path, colour_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "cold", "--db", "nowhere", "--image", "x.jpg"]) == EXIT_ERROR
    assert "no index at" in capsys.readouterr().err
    assert main(["index", str(colour_dir), "--db", "db", "-c", "other", "-m", "test-color"]) == 0
    assert main(["bench", "cold", "--db", "db", "--image", "x.jpg"]) == EXIT_ERROR
    assert "no collection 'images'" in capsys.readouterr().err
    assert EXIT_USAGE == 2
