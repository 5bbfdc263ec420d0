"""docs/cli.md is every command's --help as the code prints it (regenerate it if this fails)."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli_docs import render

ROOT = Path(__file__).resolve().parents[3]


def test_docs_cli_md_matches_every_commands_help() -> None:
    import difflib

    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    fresh = render()
    diff = "".join(list(difflib.unified_diff(page.splitlines(True), fresh.splitlines(True)))[:30])
    assert page == fresh, (
        "docs/cli.md is stale: PYTHONPATH=src python -m tests.support.cli_docs > docs/cli.md\n"
        + diff
    )


def test_the_commands_users_asked_about_are_documented() -> None:
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for heading in ("## imagevec check", "## imagevec delete", "## imagevec prune"):
        assert heading + "\n" in page
    for option in ("--where", "--meta", "--retry-failed", "--since", "--prune"):
        assert option in page
    assert "docs/cli.md" in (ROOT / "README.md").read_text(encoding="utf-8")
