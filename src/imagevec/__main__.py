"""``python -m imagevec`` runs the command line."""

from imagevec.cli import run

run()
