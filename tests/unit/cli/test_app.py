"""The ``imagevec`` command with the colour encoder: exit codes, summaries, JSON, HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from imagevec.cli import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, cli, main
from imagevec.encoders.catalog import CATALOG


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run the real entry point (exit-code mapping included) in-process."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture
def indexed(capsys: pytest.CaptureFixture[str], db: Path, colour_dir: Path) -> Path:
    code, out, _ = run(capsys, "index", colour_dir, "--db", db, "-m", "test-color")
    assert code == EXIT_OK, out
    return db


def test_index_prints_a_summary_and_reindex_is_unchanged(
    capsys: pytest.CaptureFixture[str], db: Path, colour_dir: Path
) -> None:
    code, out, _ = run(capsys, "index", colour_dir, "--db", db, "-m", "test-color")
    assert code == EXIT_OK and "indexed 3, updated 0, unchanged 0, failed 0" in out
    code, out, _ = run(capsys, "index", colour_dir, "--db", db, "--json")
    report = json.loads(out)
    assert code == EXIT_OK and (report["unchanged"], report["embedded"]) == (3, 0)
    assert report["collection"] == "images" and report["failed"] == []


def test_bad_files_are_listed_and_exit_1(
    capsys: pytest.CaptureFixture[str], db: Path, messy_dir: Path
) -> None:
    code, out, _ = run(capsys, "index", messy_dir, "--db", db, "-m", "test-color")
    assert code == EXIT_PARTIAL
    assert "indexed 2" in out and "failed 3" in out
    for name in ("corrupt.jpg", "fake.png", "empty.jpg"):
        assert f"failed: {messy_dir / name}: " in out


def test_search_text_json_is_the_documented_list(
    capsys: pytest.CaptureFixture[str], indexed: Path
) -> None:
    code, out, _ = run(capsys, "search", "red", "--db", indexed, "--json", "-k", "2")
    hits = json.loads(out)
    assert code == EXIT_OK and len(hits) == 2
    assert list(hits[0]) == ["rank", "id", "uri", "score", "metadata"]
    assert hits[0]["rank"] == 1 and hits[0]["uri"].endswith("red.png")
    assert hits[0]["score"] >= hits[1]["score"] and hits[0]["metadata"]["format"] == "PNG"


def test_search_by_image_prints_ranked_lines(
    capsys: pytest.CaptureFixture[str], indexed: Path, colour_dir: Path
) -> None:
    code, out, _ = run(capsys, "search", "--image", colour_dir / "green.png", "--db", indexed)
    lines = out.rstrip().splitlines()
    assert code == EXIT_OK and len(lines) == 3
    assert lines[0].startswith("  1.") and "green.png" in lines[0] and "64x48 PNG" in lines[0]


def test_search_html_is_self_contained_and_escaped(
    capsys: pytest.CaptureFixture[str], indexed: Path, tmp_path: Path
) -> None:
    page = tmp_path / "results.html"
    query = "red <script>alert(1)</script>"
    code, _, err = run(capsys, "search", query, "--db", indexed, "--html", page)
    html = page.read_text()
    assert code == EXIT_OK and f"wrote {page}" in err
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("data:image/jpeg;base64,") == 3 and 'href="file:///' in html


def test_search_html_of_an_image_query_shows_the_query(
    capsys: pytest.CaptureFixture[str], indexed: Path, tmp_path: Path, colour_dir: Path
) -> None:
    page = tmp_path / "like.html"
    code, _, _ = run(
        capsys, "search", "--image", colour_dir / "red.png", "--db", indexed, "--html", page
    )
    html = page.read_text()
    assert code == EXIT_OK and 'class="query"' in html and "red.png" in html
    assert html.count("data:image/jpeg;base64,") == 4  # the query, then the 3 results


def test_search_where_filter(
    capsys: pytest.CaptureFixture[str], db: Path, colour_dir: Path
) -> None:
    run(capsys, "index", colour_dir / "red.png", "--db", db, "-m", "test-color", "--meta", "k=v")
    run(capsys, "index", colour_dir, "--db", db)
    code, out, _ = run(capsys, "search", "blue", "--db", db, "--where", '{"k": "v"}', "--json")
    assert code == EXIT_OK and [Path(h["uri"]).name for h in json.loads(out)] == ["red.png"]
    code, _, err = run(capsys, "search", "blue", "--db", db, "--where", "{nope")
    assert code == EXIT_USAGE and "--where" in err
    code, _, err = run(capsys, "index", colour_dir, "--db", db, "--meta", "novalue")
    assert code == EXIT_USAGE and "KEY=VALUE" in err


@pytest.mark.parametrize(
    "args",
    [("search", "--db", "DB"), ("search", "--include-self", "-k", "3", "--db", "DB")],
)
def test_search_needs_one_query(
    capsys: pytest.CaptureFixture[str], indexed: Path, args: tuple[str, ...]
) -> None:
    code, _, err = run(capsys, *[str(indexed) if a == "DB" else a for a in args])
    assert code == EXIT_USAGE and "QUERY" in err


def test_other_model_is_a_mismatch_error_with_the_fix(
    capsys: pytest.CaptureFixture[str], indexed: Path
) -> None:
    code, _, err = run(capsys, "search", "red", "--db", indexed, "-m", "default")
    assert code == EXIT_ERROR and "--model test-color" in err and "--collection" in err


def test_missing_store_or_collection_is_an_error_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], indexed: Path, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "search", "red", "--db", tmp_path / "nowhere")
    assert code == EXIT_ERROR and "no index at" in err and not (tmp_path / "nowhere").exists()
    code, _, err = run(capsys, "search", "red", "--db", indexed, "-c", "photos")
    assert code == EXIT_ERROR and "collections: images" in err
    code, _, err = run(capsys, "index", ".", "--db", indexed, "-c", "x")
    assert code == EXIT_ERROR and "bad collection name" in err


def test_info_lists_collections_counts_and_encoders(
    capsys: pytest.CaptureFixture[str], indexed: Path
) -> None:
    code, out, _ = run(capsys, "info", "--db", indexed)
    assert code == EXIT_OK and "images: 3 images, encoder test-color (dim 48" in out
    code, out, _ = run(capsys, "info", "--db", indexed, "--json")
    data = json.loads(out)
    assert data["collections"][0]["count"] == 3
    assert data["collections"][0]["stamp"]["fingerprint"]


def test_delete_and_prune(
    capsys: pytest.CaptureFixture[str], indexed: Path, colour_dir: Path
) -> None:
    code, out, _ = run(capsys, "delete", colour_dir / "red.png", "--db", indexed)
    assert code == EXIT_OK and out.strip() == "deleted 1"
    (colour_dir / "blue.png").unlink()
    code, out, _ = run(capsys, "prune", "--db", indexed)
    assert code == EXIT_OK and out.strip() == "pruned 1"
    code, _, _ = run(capsys, "delete", "--db", indexed)
    assert code == EXIT_USAGE


def test_models_lists_the_catalog_offline(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == EXIT_OK and set(rows) == set(CATALOG)
    assert rows["default"]["ready_offline"] and "bundled" in rows["default"]["loads_from"]
    assert all("Hugging Face" in r["loads_from"] for n, r in rows.items() if n != "default")
    code, out, _ = run(capsys, "models")
    assert code == EXIT_OK and "hf:<hub id>" in out


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("index", ["--db", "--chroma-url", "--collection", "--model", "--prune", "--meta"]),
        ("search", ["--image", "--top-k", "--where", "--json", "--html", "cosine"]),
        ("info", ["--db", "--json"]),
        ("models", ["hf:<hub id>"]),
        ("demo", ["--db", "--model", "no network"]),
        ("delete", ["--id", "--where"]),
        ("prune", ["no longer exists"]),
        ("bench", ["forward", "index", "cold", "serve", "dupes"]),
        ("bench forward", ["--models", "--dtypes", "--long-side", "--no-baseline"]),
        ("bench index", ["--copies", "--repeats", "--rounds"]),
    ],
)
def test_help_explains_each_option(command: str, words: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command.split(), "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for word in words:
        assert word in text, f"{command} --help lacks {word!r}"


def test_every_command_module_is_registered() -> None:
    """A module of imagevec.cli that defines COMMANDS is listed in COMMAND_MODULES."""
    import importlib
    import pkgutil

    import imagevec.cli as package

    with_commands = {
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if hasattr(importlib.import_module(f"imagevec.cli.{info.name}"), "COMMANDS")
    }
    assert with_commands == set(package.COMMAND_MODULES)
    attached = set(cli.commands.values())  # type: ignore[attr-defined]
    for name in package.COMMAND_MODULES:
        module = importlib.import_module(f"imagevec.cli.{name}")
        assert set(module.COMMANDS) <= attached, name
