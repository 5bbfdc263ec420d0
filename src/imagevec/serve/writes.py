"""Writes to a served store: the server owns the folder, other imagevec processes add through it.

``imagevec serve`` on an embedded folder claims it (:func:`claim_store`): it holds the write
lock for its lifetime and names its address and two secrets in the lock file, which only
its user can read (mode 0600): the ``--token`` (if any) that every request needs, and a
**write token** made at start that ``POST /api/add`` needs. ``imagevec index NEW --db X``
(:func:`imagevec.remote.connect_owner`) finds the server there and sends it the paths; the
server (which has the model loaded and owns the store) reads, embeds and writes them through
the one :class:`~imagevec.service.QueryService`, and streams progress back.

The client sends paths, not vectors: the two processes share the file system (the lock is
local), the server already has the encoder loaded, so the CLI loads no model at all, and the
store only ever holds vectors of the encoder it was stamped with.

``POST /api/add`` (header ``X-Imagevec-Write: <write token>``), JSON
``{"paths": [...], "options": {...}}`` -> NDJSON lines ``{"done": n, "total": m}`` then
``{"report": {...}}`` (or ``{"error": "..."}``).

Example:
    >>> owner = claim_store(service, "http://127.0.0.1:8700", token=None)   # doctest: +SKIP
    >>> owner.release()                                                     # doctest: +SKIP
"""

from __future__ import annotations

import hmac
import json
import queue
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from imagevec.errors import ImagevecError
from imagevec.service.watch import writing
from imagevec.types import AddOptions

if TYPE_CHECKING:
    from imagevec.service import QueryService
    from imagevec.store.locking import LockHandle

__all__ = ["WRITE_HEADER", "Owner", "claim_store", "register_writes"]

WRITE_HEADER = "X-Imagevec-Write"
MAX_BODY = 8 << 20
MAX_PATHS = 100_000
#: ``ImageIndex.add`` options a client may set: AddOptions fields and ``metadatas``.
OPTIONS = frozenset({f.name for f in fields(AddOptions)} | {"metadatas"})


@dataclass
class Owner:
    """A served folder's ownership: the lock handle and the write token."""

    handle: LockHandle | None
    write_token: str

    def release(self) -> None:
        """Give the folder back (the lock file is emptied)."""
        if self.handle is not None:
            self.handle.release()


def claim_store(service: QueryService, url: str, *, token: str | None) -> Owner:
    """Own the service's embedded folder as the server at ``url`` (a Chroma server: nothing
    to own, the write endpoint still works with the returned token)."""
    from imagevec.store.locking import acquire

    write_token = secrets.token_urlsafe(32)
    path = service.index.path
    if path is None:
        return Owner(None, write_token)
    path.mkdir(parents=True, exist_ok=True)  # a new store: its first write comes later
    handle = acquire(path)
    try:
        handle.claim(url, token=token or "", write_token=write_token)
    except BaseException:
        handle.release()
        raise
    return Owner(handle, write_token)


def _refuse(status: int, detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=status)


def register_writes(api: FastAPI, service: QueryService, write_token: str) -> None:
    """Add ``POST /api/add`` to ``api`` (one write session at a time, shared with the
    folder watcher; searches keep working)."""

    @api.post("/api/add", include_in_schema=False)
    async def add(request: Request) -> Response:
        given = request.headers.get(WRITE_HEADER, "")
        if not hmac.compare_digest(given.encode(), write_token.encode()):
            return _refuse(403, f"adding needs the owner's {WRITE_HEADER} token")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _refuse(413, f"request body over {MAX_BODY} bytes")
        try:
            payload = json.loads(body)
            paths = [str(p) for p in payload["paths"]]
            options = dict(payload.get("options") or {})
        except (ValueError, KeyError, TypeError):
            return _refuse(400, 'send JSON {"paths": [...], "options": {...}}')
        if not 0 < len(paths) <= MAX_PATHS or set(options) - OPTIONS:
            return _refuse(400, f"1..{MAX_PATHS} paths; options among {sorted(OPTIONS)}")
        return StreamingResponse(_run(service, paths, options), media_type="application/x-ndjson")


def _run(service: QueryService, paths: list[str], options: dict[str, Any]) -> Iterator[bytes]:
    """Run the add in a thread; yield its progress, then its report, as NDJSON lines."""
    lines: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def work() -> None:
        try:
            with writing(service.index):
                report = service.index.add(
                    paths,
                    progress=_tell(lines),
                    **options,
                )
            lines.put({"report": report.to_dict()})
        except ImagevecError as exc:
            lines.put({"error": str(exc), "kind": type(exc).__name__})
        except Exception as exc:  # a bad option value: the client's mistake, said plainly
            lines.put({"error": f"{type(exc).__name__}: {exc}", "kind": "ConfigError"})
        finally:
            lines.put(None)

    threading.Thread(target=work, name="imagevec-add", daemon=True).start()
    while (line := lines.get()) is not None:
        yield (json.dumps(line) + "\n").encode()


def _tell(lines: queue.Queue[dict[str, Any] | None]) -> Any:
    def progress(done: int, total: int) -> None:
        lines.put({"done": done, "total": total})

    return progress
