"""One writer at a time for an embedded Chroma folder, and no reader while it writes.

Embedded Chroma (``PersistentClient``) is thread-safe but not process-safe: two processes
writing the same folder, or one reading while another writes, can corrupt it or read stale
state. imagevec therefore guards every embedded store folder with an advisory
``fcntl.flock`` on ``<folder>/imagevec.lock``:

* an open :class:`~imagevec.ImageIndex` holds a **shared** lock (any number of readers);
* its first write (``add``, ``delete``, ``prune``) upgrades to an **exclusive** lock, held until
  :meth:`~imagevec.ImageIndex.close`; the writer's pid and command line are written into the
  lock file (JSON), and ``imagevec serve`` adds its address and a private token
  (:meth:`LockHandle.claim`: the file is then readable by its owner only), so that other
  imagevec commands send their searches and writes to the server instead of failing.

The first opener in a process checks that the last writer finished cleanly
(:func:`~imagevec.store.integrity.is_clean`); if not, it takes the write lock for a moment
and settles the store (:func:`~imagevec.store.recovery.settle`). The last exclusive holder
marks the store clean when it lets go.

Locks are never waited for: a conflicting process gets
:class:`~imagevec.errors.StoreLockedError` at once, naming the writer's pid when there is
one. Inside one process, all indexes on the same folder share one lock handle (so a reader
and a writer in the same process never block each other). The kernel releases the lock
when a process dies, even by ``kill -9``. For concurrent access from several processes,
serve the folder with ``chroma run --path DIR`` and connect with ``ImageIndex(url=...)``.

On platforms without ``fcntl`` (Windows) locking is a no-op.

Example:
    >>> handle = acquire("imagevec-db")          # shared            # doctest: +SKIP
    >>> handle.make_exclusive()                  # before writing    # doctest: +SKIP
    >>> handle.release()                                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagevec.errors import ConfigError, StoreDamagedError, StoreLockedError
from imagevec.store import integrity

if TYPE_CHECKING:
    from imagevec.store.chroma import Store

try:  # pragma: no cover - platform dependent
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "imagevec.lock"
_registry: dict[str, _FolderLock] = {}
_registry_lock = threading.Lock()


class _FolderLock:
    """The process-wide lock file of one folder, shared by every handle on it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except IsADirectoryError:
            raise StoreDamagedError(
                str(folder), f"its lock file {LOCK_NAME} is a directory (remove it)"
            ) from None
        except OSError as exc:
            raise ConfigError(f"cannot open the lock file {self.path}: {exc.strerror}") from exc
        self.shared = 0
        self.exclusive = 0

    def _flock(self, op: int) -> bool:
        if fcntl is None:  # pragma: no cover - Windows
            return True
        try:
            fcntl.flock(self.fd, op | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def owner(self) -> dict[str, Any]:
        """The owner record in the lock file (``{pid, command, url?, token?}``), or {}."""
        try:
            text = os.pread(self.fd, 65536, 0).decode("utf-8", "replace").strip()
        except OSError:
            return {}
        try:
            record = json.loads(text) if text.startswith("{") else {"pid": int(text)}
            os.kill(int(record["pid"]), 0)
        except (ValueError, KeyError, TypeError, OSError):
            return {}
        return record if isinstance(record, dict) else {}

    def holder(self) -> str:
        """Who holds the exclusive lock, in words (from the owner record in the lock file)."""
        record = self.owner()
        if not record:
            return "another process has it open"
        command = f" ({record['command']})" if record.get("command") else ""
        if record.get("url"):
            return f"process {record['pid']} serves it at {record['url']}{command}"
        return f"process {record['pid']} is writing to it{command}"

    def write_owner(self, **extra: str) -> None:
        """Name this process (and its server address and token, if any) in the lock file."""
        record = {"pid": os.getpid(), "command": _command(), **extra}
        if len(extra) > 1 and fcntl is not None:
            os.fchmod(self.fd, 0o600)  # the token is a secret of the owner's user
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, (json.dumps(record) + "\n").encode(), 0)

    def lock_shared(self) -> None:
        if self.shared or self.exclusive:
            self.shared += 1
            return
        if not self._flock(fcntl.LOCK_SH if fcntl else 0):
            raise StoreLockedError(self.folder, self.holder())
        self.shared += 1

    def lock_exclusive(self) -> None:
        if self.exclusive:
            self.exclusive += 1
            return
        # flock drops the shared lock before trying the exclusive one; if that fails, the
        # shared lock is taken back so that this process can keep reading.
        if not self._flock(fcntl.LOCK_EX if fcntl else 0):
            who = self.holder()
            if self.shared and not self._flock(fcntl.LOCK_SH):
                self.shared = 0
            raise StoreLockedError(self.folder, who, write=True)
        self.write_owner()
        self.exclusive += 1

    def unlock(self, exclusive: bool) -> bool:
        """Drop one hold; returns True when the file is no longer locked by anyone here."""
        if exclusive:
            self.exclusive -= 1
            if not self.exclusive:
                if integrity.written_here(self.folder):
                    integrity.mark_clean(self.folder)  # this process's writes are complete
                os.ftruncate(self.fd, 0)
                if self.shared and fcntl is not None:
                    fcntl.flock(self.fd, fcntl.LOCK_SH)
        else:
            self.shared -= 1
        if self.shared or self.exclusive:
            return False
        if fcntl is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        return True


class LockHandle:
    """One holder's view of a folder lock: shared at first, exclusive after
    :meth:`make_exclusive`, gone after :meth:`release` (idempotent)."""

    def __init__(self, lock: _FolderLock) -> None:
        self._lock = lock
        self.exclusive = False
        self.released = False
        #: Whether this was the first hold on the folder in this process (it settles).
        self.first = lock.shared + lock.exclusive == 1

    @property
    def folder(self) -> Path:
        """The locked folder."""
        return self._lock.folder

    def make_exclusive(self) -> None:
        """Become the writer; raises :class:`StoreLockedError` if another process has it open."""
        if self.released:
            raise StoreLockedError(self.folder, "this handle's lock was released (index closed)")
        if self.exclusive:
            return
        with _registry_lock:
            self._lock.lock_exclusive()
            self._lock.shared -= 1
            self.exclusive = True

    def make_shared(self) -> None:
        """Stop being the writer, keep reading (the store is marked clean if it was written)."""
        with _registry_lock:
            if self.exclusive and not self.released:
                self._lock.shared += 1
                self._lock.unlock(True)
                self.exclusive = False

    def claim(self, url: str, **secrets: str) -> None:
        """Own the folder as a server: the exclusive lock, and the server's ``url`` and
        tokens in the lock file (mode 0600), so that other imagevec processes of the same
        user send their searches and writes to it."""
        self.make_exclusive()
        with _registry_lock:
            self._lock.write_owner(url=url, **secrets)

    def release(self) -> None:
        """Give the lock back (the last holder in this process unlocks the file)."""
        with _registry_lock:
            if self.released:
                return
            self.released = True
            if self._lock.unlock(self.exclusive):
                _registry.pop(str(self._lock.folder), None)

    def __enter__(self) -> LockHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(folder: str | os.PathLike[str], *, exclusive: bool = False) -> LockHandle:
    """Lock ``folder`` (which must exist) for reading, or for writing with ``exclusive``.

    Raises:
        StoreLockedError: another process holds a conflicting lock; never waits.
    """
    path = Path(folder).resolve()
    with _registry_lock:
        lock = _registry.get(str(path))
        created = lock is None
        if lock is None:
            lock = _FolderLock(path)
        try:
            lock.lock_shared()
        except StoreLockedError:
            if created:
                os.close(lock.fd)
            raise
        _registry[str(path)] = lock
    handle = LockHandle(lock)
    if exclusive:
        try:
            handle.make_exclusive()
        except StoreLockedError:
            handle.release()
            raise
    return handle


def _command() -> str:
    """This process's command line, short (``imagevec serve --db photos-db``)."""
    words = [os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:5]]
    if words[0] in ("__main__.py", "-c", ""):
        words[0] = "python"
    return " ".join(words)[:200]


def owner_of(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The server that owns ``folder`` (``{pid, command, url, token}``), or {} when no live
    server holds it. Reads the lock file only (0600: other users cannot)."""
    path = Path(folder).resolve()
    with _registry_lock:
        lock = _registry.get(str(path))
        if lock is not None:
            return lock.owner() if lock.exclusive else {}
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return {}
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # held: read the record
            else:
                return {}  # nobody holds it: a stale record
        probe = _FolderLock.__new__(_FolderLock)
        probe.fd = fd
        record = probe.owner()
    finally:
        os.close(fd)
    return record if record.get("url") else {}


def is_store(path: Path | None) -> bool:
    """Whether ``path`` holds an embedded Chroma store (reading never creates one)."""
    return path is not None and (path / "chroma.sqlite3").is_file()


def open_store(
    path: Path | None, *, url: str | None, collection: str, location: str, write: bool
) -> tuple[Store, LockHandle | None]:
    """The collection of an embedded folder under its lock (shared, or exclusive to
    ``write``; a folder is created only to write), or of a Chroma server ``url`` (no lock).

    Raises:
        StoreNotFoundError: reading a folder that holds no store.
        StoreLockedError: another process holds a conflicting lock.
    """
    from imagevec.errors import StoreNotFoundError
    from imagevec.store.chroma import Store, connect

    lock = None
    if url is None:
        assert path is not None
        if not is_store(path):
            if not write:
                raise StoreNotFoundError(path)
            path.mkdir(parents=True, exist_ok=True)
        lock = acquire(path, exclusive=write)
    try:
        if path is not None and lock is not None and lock.first and not integrity.is_clean(path):
            _settle(lock, path)
        store = Store(connect(path, url=url), collection, location=location, folder=path)
        return store, lock
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _settle(lock: LockHandle, path: Path) -> None:
    """Settle an unclean store under the write lock, then go back to the lock asked for.
    When other readers hold the folder, nothing is settled: the files are checked before
    Chroma reads them (:func:`imagevec.store.chroma.connect`) and the next opener settles."""
    from imagevec.store.recovery import settle

    was_exclusive = lock.exclusive
    try:
        lock.make_exclusive()
    except StoreLockedError:
        return
    try:
        settle(path)
    finally:
        if not was_exclusive:
            lock.make_shared()
