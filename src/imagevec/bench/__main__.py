"""``python -m imagevec.bench forward | index | finetune``: the same as ``imagevec bench``."""

from __future__ import annotations

import sys

from imagevec.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(["bench", *sys.argv[1:]]))
