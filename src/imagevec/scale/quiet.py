"""Keep Ray's own console output out of the user's terminal unless ``-v``.

Ray prints INFO/WARNING lines from Python and ``E ... core_worker.cc`` lines from its C++
core straight to file descriptor 2 (its Python handlers are made lazily, on
``sys.stderr``, which writes there too). While :func:`ray_output` is active (imagevec not
at INFO, i.e. no ``-v``), descriptor 2 points at a log file; what we show (the progress
bar) goes to the stream it yields, a copy of the real terminal. On leaving, descriptor 2
is restored. Ray's own logs also stay where Ray keeps them (``/tmp/ray/session_*/logs``).

Example:
    >>> with ray_output() as terminal:                                 # doctest: +SKIP
    ...     report = run_the_pipeline(progress_to=terminal)
"""

from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["ray_output", "verbose"]


def verbose() -> bool:
    """Whether imagevec logs at INFO (the CLI's ``-v``)."""
    return logging.getLogger("imagevec").isEnabledFor(logging.INFO)


@contextmanager
def ray_output() -> Iterator[TextIO]:
    """Send what Ray and native code write to descriptor 2 into a log file
    (``$TMPDIR/imagevec-ray-*.log``); yields the stream for what the user should see
    (``sys.stderr`` itself when verbose or when descriptor 2 cannot be redirected)."""
    if verbose():
        yield sys.stderr
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):  # embedded use
        yield sys.stderr
        return
    fd, _ = tempfile.mkstemp(prefix="imagevec-ray-", suffix=".log")
    terminal = io.TextIOWrapper(
        os.fdopen(os.dup(saved), "wb"), encoding="utf-8", errors="replace", line_buffering=True
    )
    os.dup2(fd, 2)
    os.close(fd)
    try:
        yield terminal
    finally:
        terminal.flush()
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        terminal.close()
