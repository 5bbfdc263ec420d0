"""The root ``imagevec`` group, the exit codes and the entry point.

Exit codes (the only definition; every command module imports them from here):

* ``EXIT_OK`` 0: success;
* ``EXIT_PARTIAL`` 1: finished, but some inputs failed (they are listed);
* ``EXIT_USAGE`` 2: usage error (bad option or argument);
* ``EXIT_ERROR`` 3: imagevec error (unknown model, encoder mismatch, locked store, no index...);
* ``EXIT_INTERRUPTED`` 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn

import click

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="imagevec")
def cli() -> None:
    """Index photos with local encoders and search them by text or by an example image."""


_read_only_run = False


def read_only() -> None:
    """Mark this run as read-only (search, info...): the console script then ends the process
    right after flushing its output, skipping the interpreter's teardown of chromadb and the
    ONNX Runtime sessions (0.2-0.35 s CPU per run, measured in :mod:`imagevec.process`).
    Nothing is lost: such a run wrote nothing that a teardown would finish, and its files are
    closed."""
    global _read_only_run
    _read_only_run = True


def run() -> NoReturn:
    """The ``imagevec`` console script and ``python -m imagevec``: :func:`main`, then exit."""
    from imagevec.process import skip_override_checks

    skip_override_checks()
    code = main()
    if _read_only_run:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head)
                stream.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run :data:`cli` on ``argv`` and return its exit code (errors mapped to codes)."""
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
