"""The store survives: readers write nothing, bit rot and torn writes never crash a command,
``check`` compares vectors exactly (no false alarms, swapped vectors caught) and repairs.

Synthetic vectors (no model): :mod:`tests.support.synthetic_store`. Opening a store whose
vector index is damaged may crash Chroma's native code, so those opens run in a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imagevec.cli import EXIT_ERROR, main
from imagevec.errors import StoreDamagedError
from imagevec.store import integrity
from imagevec.store.hnsw_files import _HEADER
from tests.support.synthetic_store import DIM, build, search

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 records: below Chroma's default sync threshold (1000), the case readers rewrote."""
    db = tmp_path_factory.mktemp("small") / "db"
    build(db, 300)
    return db


def _copy(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def _search_in_subprocess(db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.support.synthetic_store", "search", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def _snapshot(db: Path) -> dict[str, tuple[int, int, str]]:
    out = {}
    for path in sorted(db.rglob("*")):
        if path.is_file() and path.name not in ("chroma.sqlite3", "imagevec.lock"):
            info = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(db))] = (info.st_size, info.st_mtime_ns, digest)
    return out


def _tables(db: Path) -> list[str]:
    """The database's content, less Chroma's own ``acquire_write`` bookkeeping row."""
    with sqlite3.connect(f"{(db / 'chroma.sqlite3').as_uri()}?mode=ro", uri=True) as conn:
        return [line for line in conn.iterdump() if "acquire_write" not in line]


def _segment(db: Path) -> Path:
    return integrity.segment_folders(db)[0]


def _keep_mtime(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    info = path.stat()
    change(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_readers_write_nothing(small: Path, tmp_path: Path) -> None:
    db = _copy(small, tmp_path / "db")
    before, tables = _snapshot(db), _tables(db)
    for _ in range(3):
        done = _search_in_subprocess(db)
        assert done.returncode == 0 and done.stdout.strip() == "20", done.stderr[-2000:]
    assert _snapshot(db) == before  # the vector index files: not a byte, not an mtime
    assert _tables(db) == tables


def _rot(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(size // 3)
        handle.write(np.random.default_rng(7).bytes(size // 3))


@pytest.mark.parametrize("name", ["data_level0.bin", "header.bin", "link_lists.bin"])
def test_bit_rot_that_keeps_size_and_mtime_never_crashes(
    small: Path, tmp_path: Path, name: str
) -> None:
    db = _copy(small, tmp_path / "db")
    target = _segment(db) / name
    _keep_mtime(target, _rot if name != "header.bin" else _random_header)
    done = _search_in_subprocess(db)  # the vector index is rebuilt from the log
    assert done.returncode == 0 and done.stdout.strip() == "20", done.stderr[-2000:]
    assert integrity.is_clean(db)


def _random_header(path: Path) -> None:
    path.write_bytes(np.random.default_rng(3).bytes(path.stat().st_size))


def test_a_writer_killed_mid_persist_loses_nothing(small: Path, tmp_path: Path) -> None:
    db = _copy(small, tmp_path / "db")
    integrity.mark_dirty(db)  # what a writer does before its first write
    (_segment(db) / "header.bin").write_bytes(b"")  # torn: killed while Chroma persisted
    (_segment(db) / "data_level0.bin").write_bytes(b"\0" * 100)
    assert search(db) == 20  # opened without a repair, every record there
    with sqlite3.connect(db / "chroma.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM embeddings").fetchone() == (300,)


def test_check_on_random_header_reports_and_repair_repairs(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _copy(small, tmp_path / "db")
    _random_header(_segment(db) / "header.bin")
    assert main(["check", "--db", str(db)]) == EXIT_ERROR
    assert "header.bin" in capsys.readouterr().out
    assert main(["check", "--db", str(db), "--repair"]) == 0
    out = capsys.readouterr().out
    assert "rebuilt from the store's log" in out
    assert main(["check", "--db", str(db)]) == 0
    assert [p.name for p in db.iterdir() if p.is_dir()] == [_segment(db).name]  # no leftovers


def _swap_two_vectors(segment: Path) -> None:
    """Swap the vectors of elements 3 and 200 inside data_level0.bin (labels kept)."""
    head = _HEADER.unpack_from((segment / "header.bin").read_bytes())
    size, label_at, data_at = head[4], head[5], head[6]
    data = bytearray((segment / "data_level0.bin").read_bytes())
    a, b = 3 * size + data_at, 200 * size + data_at
    span = label_at - data_at
    data[a : a + span], data[b : b + span] = data[b : b + span], data[a : a + span]
    (segment / "data_level0.bin").write_bytes(bytes(data))


def test_check_catches_swapped_vectors_and_repair_fixes_them(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _copy(small, tmp_path / "db")
    _swap_two_vectors(_segment(db))
    integrity.mark_clean(db)  # the worst case: the damage is in the clean mark too
    assert main(["check", "--db", str(db), "--json"]) == EXIT_ERROR
    (images,) = json.loads(capsys.readouterr().out)["collections"]
    assert len(images["wrong_vector"]) == 2
    assert main(["check", "--db", str(db), "--repair"]) == 0
    capsys.readouterr()
    assert main(["check", "--db", str(db)]) == 0
    assert search(db, probes=300) == 300


def test_check_has_no_false_alarm_on_a_healthy_store(tmp_path: Path) -> None:
    db = tmp_path / "db"
    build(db, 1100)
    for _ in range(2):  # a different HNSW miss after each reopen used to be reported
        assert main(["check", "--db", str(db)]) == 0


def test_a_store_without_a_complete_log_keeps_the_old_guard(small: Path, tmp_path: Path) -> None:
    """A store written before the log was kept (purged): damage is an error, not a crash."""
    db = _copy(small, tmp_path / "db")
    with sqlite3.connect(db / "chroma.sqlite3") as conn:
        conn.execute("DELETE FROM embeddings_queue WHERE seq_id < 100")  # purged by Chroma
    _random_header(_segment(db) / "header.bin")
    with pytest.raises(StoreDamagedError, match=r"header\.bin"):
        search(db)


def test_vector_digest_is_kept_with_each_record(small: Path) -> None:
    from imagevec.store.digest import DIGEST, digest_matches
    from tests.support.synthetic_store import vectors

    with sqlite3.connect(f"{(small / 'chroma.sqlite3').as_uri()}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT string_value FROM embedding_metadata WHERE key = ? ORDER BY id", (DIGEST,)
        ).fetchall()
    assert len(rows) == 300
    first = vectors(1, DIM)[0]
    assert digest_matches(rows[0][0], first) and not digest_matches(rows[0][0], -first)


def test_the_clean_mark_reads_bytes_only_when_the_kernel_says_a_file_was_touched(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _copy(small, tmp_path / "db")
    integrity.mark_clean(db)
    read: list[Path] = []
    crc = integrity._crc
    monkeypatch.setattr(integrity, "_crc", lambda path: read.append(path) or crc(path))
    assert integrity.is_clean(db) and read == []  # a stat per file, no byte read
    _keep_mtime(_segment(db) / "length.bin", lambda path: path.write_bytes(path.read_bytes()))
    assert integrity.is_clean(db) and read  # same bytes, ctime moved: read and compared


def test_a_transaction_cut_by_a_kill_is_not_damage(tmp_path: Path) -> None:
    """A writer killed mid-transaction leaves a hot journal: SQLite rolls it back on the
    next write-capable open; a read-only check must not call that damage."""
    database = tmp_path / "chroma.sqlite3"
    code = (
        "import os, signal, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "c.execute('CREATE TABLE t (x)'); c.commit(); c.execute('BEGIN'); "
        "[c.execute('INSERT INTO t VALUES (?)', ('x' * 500,)) for _ in range(3000)]; "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    subprocess.run([sys.executable, "-c", code, str(database)], check=False)
    assert database.with_name("chroma.sqlite3-journal").exists()
    assert integrity.sqlite_problem(database) is None
