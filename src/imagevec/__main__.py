"""``python -m imagevec`` runs the command line."""

import sys

from imagevec.cli import main

sys.exit(main())
