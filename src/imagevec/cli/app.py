"""The root ``imagevec`` group, the exit codes and the entry point.

Exit codes (the only definition; every command module imports them from here):

* ``EXIT_OK`` 0: success;
* ``EXIT_PARTIAL`` 1: finished, but some inputs failed (they are listed);
* ``EXIT_USAGE`` 2: usage error (bad option or argument);
* ``EXIT_ERROR`` 3: imagevec error (unknown model, encoder mismatch, locked store, no index...);
* ``EXIT_INTERRUPTED`` 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import click

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="imagevec")
def cli() -> None:
    """Index photos with local encoders and search them by text or by an example image."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``imagevec`` console script: runs :data:`cli`, maps errors to codes."""
    from imagevec.cli.hints import error_text
    from imagevec.cli.output import printable
    from imagevec.errors import ImagevecError

    try:
        return int(cli.main(args=argv, prog_name="imagevec", standalone_mode=False) or 0)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except ImagevecError as exc:
        click.echo(f"error: {printable(error_text(exc))}", err=True)
        return EXIT_ERROR
