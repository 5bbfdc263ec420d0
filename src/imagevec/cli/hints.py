"""Library errors as the command line says them: the error's words plus a flag to try."""

from __future__ import annotations

from imagevec.errors import ImagevecError


def error_text(exc: ImagevecError) -> str:
    """The error's message, then a hint in terms of this command's flags (if any)."""
    return str(exc)
