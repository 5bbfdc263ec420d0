"""``imagevec bench``: the throughput benchmark (``python -m imagevec.bench.forward``)."""

from __future__ import annotations

import click


@click.command(
    "bench",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args: tuple[str, ...]) -> int:
    """Images/s per encoder and dtype: model forward alone vs end-to-end from JPEG files.

    Run `imagevec bench --help` for the options.
    """
    from imagevec.bench.forward import main

    try:
        return main(list(args))
    except SystemExit as exc:  # argparse's --help / usage errors
        return int(exc.code or 0)


COMMANDS = [bench]
