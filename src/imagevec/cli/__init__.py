"""The ``imagevec`` command: parsing and output only; all work is done by the library.

Each group of commands lives in its own module and is registered here explicitly.
Exit codes: 0 success, 1 finished with failures (some inputs failed), 2 usage error,
3 imagevec error (bad model, encoder mismatch, locked store...).
"""

from __future__ import annotations

import sys

import click

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="imagevec")
def cli() -> None:
    """Index photos with local encoders and search them by text or by an example image."""


def _register() -> None:
    """Attach the command modules (explicit, no scanning)."""
    from imagevec.cli import bench_cmd, index_cmds, train_cmds

    for module in (index_cmds, train_cmds, bench_cmd):
        for command in module.COMMANDS:
            cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``imagevec`` console script."""
    from imagevec.errors import ImagevecError

    _register()
    try:
        return int(cli.main(args=argv, prog_name="imagevec", standalone_mode=False) or 0)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except ImagevecError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
