"""What the store's integrity guard costs per open, at 10k and 100k records.

Every open of an embedded store compares the vector-index files with the clean mark of the
last write (:func:`imagevec.store.integrity.is_clean`): a ``stat`` per file when nothing
touched them since (``is_clean_untouched_s``), CRC-32 of every byte otherwise
(``crc_every_byte_s``). Without ``--files-only`` it also times Chroma's own open and one
query of the same store (synthetic unit vectors).

    python examples/benchmarks/store_integrity.py --records 10000 --dim 1280
    python examples/benchmarks/store_integrity.py --records 100000 --dim 1280 --files-only

``--files-only`` writes vector-index files of the size Chroma would write for that many
records (``data_level0.bin`` = records x (4 + 4*32 + 4*dim + 8) bytes, ...) instead of
building the index (building 100k records takes long on a small machine); the CRC cost
depends on the bytes only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path


def _timed(function, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--files-only", action="store_true")
    args = parser.parse_args()
    from imagevec.store import integrity

    root = Path(tempfile.mkdtemp(prefix="imagevec-integrity-"))
    db = root / "db"
    result: dict[str, object] = {"records": args.records, "dim": args.dim}
    try:
        if args.files_only:
            segment = db / "00000000-0000-0000-0000-000000000000"
            segment.mkdir(parents=True)
            (segment / "header.bin").write_bytes(b"\0" * 100)
            per = 4 + 4 * 32 + 4 * args.dim + 8
            with open(segment / "data_level0.bin", "wb") as handle:
                block = os.urandom(1 << 20)
                for _ in range(args.records * per // len(block) + 1):
                    handle.write(block)
            (segment / "length.bin").write_bytes(b"\0" * 4 * args.records)
            (segment / "link_lists.bin").write_bytes(b"\0" * 4 * args.records)
        else:
            from tests.support.synthetic_store import build, search

            started = time.perf_counter()
            build(db, args.records, args.dim, batch=1000)
            result["build_s"] = round(time.perf_counter() - started, 1)
            result["open_and_query_s"] = round(_timed(lambda: search(db, 1, args.dim)), 3)
        integrity.mark_clean(db)
        size = sum(p.stat().st_size for p in db.rglob("*") if p.is_file())
        result["store_mb"] = round(size / 2**20, 1)
        result["is_clean_untouched_s"] = round(_timed(lambda: integrity.is_clean(db)), 4)
        names = list(integrity.file_digests(db))
        result["crc_every_byte_s"] = round(
            _timed(lambda: [integrity._crc(db / name) for name in names]), 3
        )
        result["load_average"] = os.getloadavg()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
