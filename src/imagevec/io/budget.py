"""A decode budget shared by concurrent requests: decoded pixels in flight, across threads.

The per-image pixel cap stops one bomb; it does not stop sixteen requests that each send a
small file decoding to 40 million pixels at the same moment (gigabytes at once). A
:class:`PixelBudget` bounds the pixels that all holders together may have decoded at any
time: a request takes a :meth:`PixelBudget.hold` (a :class:`Ticket`), the loader asks the
ticket for each image's pixels before decoding it (waiting while others hold the budget),
and leaving the ``with`` block gives them back, once the request is done with the pixels.

Example:
    >>> budget = PixelBudget(64_000_000)
    >>> with budget.hold() as ticket:
    ...     image = load_image(data, budget=ticket)                  # doctest: +SKIP
    ...     vector = encoder.embed_images([image])                   # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from imagevec.errors import ImageTooLargeError

__all__ = ["DecodeBusyError", "PixelBudget", "Ticket", "return_large_blocks"]


class DecodeBusyError(ImageTooLargeError):
    """The decode budget stayed full for the whole wait: other requests hold it (try again)."""


class PixelBudget:
    """At most ``pixels`` decoded pixels held at once by all tickets together.

    Args:
        pixels: the budget (at least the largest single image accepted).
        timeout: seconds a ticket waits for room before :class:`DecodeBusyError`.
    """

    def __init__(self, pixels: int, *, timeout: float = 30.0) -> None:
        self.pixels = int(pixels)
        self.timeout = timeout
        self.used = 0
        self._room = threading.Condition()

    @contextmanager
    def hold(self) -> Iterator[Ticket]:
        """A ticket for one request; whatever it took is given back on leaving."""
        ticket = Ticket(self)
        try:
            yield ticket
        finally:
            ticket.release()

    def _take(self, pixels: int, source: object) -> None:
        with self._room:
            if not self._room.wait_for(lambda: self.used + pixels <= self.pixels, self.timeout):
                raise DecodeBusyError(
                    source, "the server is decoding other large images; try again shortly"
                )
            self.used += pixels

    def _give(self, pixels: int) -> None:
        with self._room:
            self.used -= pixels
            self._room.notify_all()


class Ticket:
    """One request's share of a :class:`PixelBudget` (see :meth:`PixelBudget.hold`)."""

    def __init__(self, budget: PixelBudget) -> None:
        self.budget = budget
        self.held = 0

    def take(self, pixels: int, source: object = "<image>") -> None:
        """Reserve ``pixels`` before decoding them, waiting while the budget is full.

        Raises:
            ImageTooLargeError: this request's images together exceed the whole budget.
            DecodeBusyError: no room came within the budget's timeout.
        """
        if self.held + pixels > self.budget.pixels:
            raise ImageTooLargeError(
                source,
                f"the images of one request decode to {self.held + pixels} pixels, over the "
                f"server's decode budget of {self.budget.pixels}",
            )
        self.budget._take(pixels, source)
        self.held += pixels

    def release(self) -> None:
        """Give back everything taken (idempotent)."""
        if self.held:
            self.budget._give(self.held)
            self.held = 0


_M_MMAP_THRESHOLD = -3


def return_large_blocks(threshold: int = 4 * 2**20) -> bool:
    """Make freed allocations over ``threshold`` bytes go back to the OS at once (glibc).

    For long-running servers: decoded pictures live in blocks of megabytes; by default
    glibc keeps freed ones in per-thread arenas, so a server whose worker threads each
    decoded one large upload keeps every thread's peak (measured: one 6300x6300 upload
    left +199 MB resident, four sequential ones +350 MB; with this, +7 MB). Called by
    ``imagevec serve`` and ``imagevec mcp``, never by the library. Returns whether it
    applied (False off glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))
    except (OSError, AttributeError):
        return False
