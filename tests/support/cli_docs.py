"""docs/cli.md: every ``imagevec`` command's ``--help``, generated so it cannot go stale.

Regenerate after changing a command or option (tests/unit/cli/test_docs.py checks it):

    PYTHONPATH=src python -m tests.support.cli_docs > docs/cli.md
"""

from __future__ import annotations

from collections.abc import Iterator

import click

HEADER = """# Command reference

[Back to the README](../README.md)

Every `imagevec` command and option, as `imagevec COMMAND --help` prints it. This page is
generated (`PYTHONPATH=src python -m tests.support.cli_docs > docs/cli.md`) and a test fails
when it differs from the code.
"""


def _commands(group: click.Group, prefix: str) -> Iterator[tuple[str, click.Command]]:
    for name in group.list_commands(click.Context(group)):
        command = group.get_command(click.Context(group), name)
        if command is None or command.hidden:
            continue
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


def _help(command: click.Command, path: str) -> str:
    ctx = click.Context(
        command,
        info_name=path,
        terminal_width=100,
        max_content_width=100,
        help_option_names=["-h", "--help"],  # the group's context_settings, as users see it
    )
    return command.get_help(ctx)


def render() -> str:
    """The whole page."""
    from imagevec.cli import cli

    parts = [HEADER, "## imagevec\n", "```text", _help(cli, "imagevec"), "```\n"]
    for path, command in _commands(cli, "imagevec"):
        parts += [f"## {path}\n", "```text", _help(command, path), "```\n"]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
