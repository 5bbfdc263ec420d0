"""The README's install command is the one CI runs, and it gives a CPU machine the CPU torch."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CI = (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _line(start: str) -> str:
    lines = [line for line in README.splitlines() if line.startswith(start)]
    assert len(lines) == 1, f"the README should have one line starting {start!r}"
    return lines[0]


def test_the_quick_start_pins_the_cpu_wheel_of_torch() -> None:
    install = _line("python3 -m venv .venv ")
    torch = re.search(r"pip install (torch==\S+)( --extra-index-url (\S+))?", install)
    assert torch and torch[3] == "https://download.pytorch.org/whl/cpu", install
    assert install.index(torch[0]) < install.index('pip install -e ".[dev]"')  # torch first
    assert install.endswith("imagevec demo")


def test_ci_runs_the_readme_commands_not_copies() -> None:
    assert "readme_command 'python3 -m venv \\.venv '" in CI
    assert "readme_command '\\.venv/bin/ruff check '" in CI
    assert 'bash -c "$install"' in CI and 'bash -c "$checks"' in CI
    assert "pip install torch==" not in CI.replace("'pip install torch==[^&]*'", "")
    assert "pip install -e" not in CI.split("-c constraints")[0]
    _line(".venv/bin/ruff check ")


def test_ci_runs_the_integrations_at_the_floors() -> None:
    assert "-c constraints-lowest.txt" in CI
    assert "tests/integrations/langchain tests/integrations/llamaindex" in CI
