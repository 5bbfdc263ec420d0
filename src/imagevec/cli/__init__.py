"""The ``imagevec`` command: parsing and output only; all work is done by the library.

Each group of commands lives in its own module, which lists its click commands in
``COMMANDS``. Registering a module is one line in :data:`COMMAND_MODULES`; the commands are
attached when this package is imported (so ``imagevec.cli.cli`` is complete for tests and
tools), in that order. Exit codes are defined once, in :mod:`imagevec.cli.app`.
"""

from __future__ import annotations

import importlib

from imagevec.cli.app import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    cli,
    main,
    run,
)

#: Modules of ``imagevec.cli`` whose ``COMMANDS`` are attached to :data:`cli`; one per line.
COMMAND_MODULES = (
    "index_cmds",
    "search_cmds",
    "dupes_cmd",
    "check_cmd",
    "models_cmd",
    "demo_cmd",
    "train_cmds",
    "bench_cmd",
    "serve_cmd",
    "mcp_cmd",
)

for _name in COMMAND_MODULES:
    for _command in importlib.import_module(f"{__name__}.{_name}").COMMANDS:
        cli.add_command(_command)

__all__ = [
    "COMMAND_MODULES",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "cli",
    "main",
    "run",
]
