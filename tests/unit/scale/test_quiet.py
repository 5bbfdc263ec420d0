"""Ray's console output stays out of the terminal unless -v (fd-level, no Ray needed)."""

from __future__ import annotations

import logging
import os
import sys

import pytest

from imagevec.scale.quiet import ray_output


def test_native_writes_to_fd2_go_to_a_log_while_ours_reach_the_terminal(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with ray_output() as terminal:
        os.write(2, b"[E 123 core_worker.cc:2465] noise from native code\n")
        with open(2, "w", closefd=False) as fd2:  # a handler Ray makes on sys.stderr
            fd2.write("2026 INFO worker.py -- Started a local Ray instance.\n")
        terminal.write("indexing (ray): 2/2\n")
    os.write(2, b"after\n")
    err = capfd.readouterr().err
    assert "core_worker" not in err and "Started a local Ray" not in err
    assert "indexing (ray): 2/2" in err and "after" in err


def test_verbose_shows_everything(capfd: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("imagevec")
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with ray_output() as terminal:
            os.write(2, b"core_worker.cc line\n")
            assert terminal is sys.stderr
    finally:
        logger.setLevel(level)
    assert "core_worker.cc line" in capfd.readouterr().err
