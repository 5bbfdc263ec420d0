"""The client side of a served store: other imagevec processes search and add through its owner.

When ``imagevec serve`` owns an embedded folder (:mod:`imagevec.serve.writes`), a command
that opens the folder gets :class:`~imagevec.errors.StoreLockedError`; it then asks
:func:`connect_owner` for a client of the server named in the lock file. The client
(:class:`OwnerClient`) searches like :func:`imagevec.connect`'s and also adds: the paths
are made absolute and sent to ``POST /api/add``; progress comes back line by line and is
shown as a local progress bar; the result is the same :class:`~imagevec.AddReport`.

Example:
    >>> with connect_owner("imagevec-db") as index:                      # doctest: +SKIP
    ...     index.add(["~/Photos/new"], progress=True)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imagevec.errors import ConfigError, NoServerError, StoreLockedError
from imagevec.serve.client import RemoteIndex
from imagevec.types import AddOptions, AddReport, Failure

__all__ = ["OwnerClient", "connect_owner"]

WRITE_HEADER = "X-Imagevec-Write"  # the same as imagevec.serve.writes (no fastapi import here)


class OwnerClient(RemoteIndex):
    """A client of the server that owns a folder: searches, and adds through it.

    Args:
        url: the server (from the lock file).
        folder: the store folder, for messages.
        token: the server's ``--token`` ("" for none).
        write_token: the owner's write token (from the lock file).
    """

    def __init__(self, url: str, folder: Path, *, token: str, write_token: str) -> None:
        super().__init__(url, token=token or None, timeout=3600.0)
        self.location = f"{folder} (through imagevec serve at {url})"
        self._write_token = write_token

    def add(
        self,
        sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        options: AddOptions | None = None,
        *,
        metadatas: Any = None,
        progress: bool = False,
        **kwargs: Any,
    ) -> AddReport:
        """Like :meth:`ImageIndex.add`: the server reads, embeds and writes the files."""
        import httpx
        from tqdm.auto import tqdm

        options, load_options = AddOptions.build(options, **kwargs)
        if load_options or callable(metadatas):
            raise ConfigError("adding through a server takes AddOptions and dict metadatas only")
        paths = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
        sent: dict[str, Any] = dataclasses.asdict(options)
        if metadatas is not None:
            sent["metadatas"] = metadatas
        absolute = [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in paths]
        body = {"paths": absolute, "options": sent}
        headers = {WRITE_HEADER: self._write_token}
        result: dict[str, Any] = {}
        try:
            with (
                self._http.stream("POST", "/api/add", json=body, headers=headers) as response,
                tqdm(unit="img", desc="indexing", disable=not progress) as bar,
            ):
                if not response.is_success:
                    response.read()
                    raise self._error(response.status_code, response.text[:500], None)
                for line in response.iter_lines():
                    message = json.loads(line) if line.strip() else {}
                    if "done" in message:
                        bar.total = message["total"]
                        bar.update(message["done"] - bar.n)
                    result.update(message)
        except httpx.HTTPError as exc:
            raise NoServerError(self.url, str(exc), server="imagevec") from exc
        if "error" in result:
            raise ConfigError(f"the server at {self.url} could not add: {result['error']}")
        return _report(result.get("report") or {})

    def delete(self, *args: Any, **kwargs: Any) -> int:
        """Not through a server: stop ``imagevec serve`` first."""
        raise StoreLockedError(self.location, "imagevec serve owns it (stop it to delete)")

    def prune(self, *args: Any, **kwargs: Any) -> int:
        """Not through a server (``imagevec serve --watch`` prunes its folders itself)."""
        raise StoreLockedError(self.location, "imagevec serve owns it (stop it to prune)")


def _failures(rows: Any) -> list[Failure]:
    return [Failure(i, str(r.get("file")), str(r.get("reason"))) for i, r in enumerate(rows or [])]


def _report(data: dict[str, Any]) -> AddReport:
    return AddReport(
        indexed=int(data.get("indexed", 0)),
        updated=int(data.get("updated", 0)),
        unchanged=int(data.get("unchanged", 0)),
        failed=_failures(data.get("failed")),
        failed_earlier=_failures(data.get("failed_earlier")),
        pruned=int(data.get("pruned", 0)),
        warnings=_failures(data.get("warnings")),
        embedded=int(data.get("embedded", 0)),
        seconds=float(data.get("seconds", 0.0)),
    )


def connect_owner(folder: str | os.PathLike[str]) -> OwnerClient | None:
    """A client of the ``imagevec serve`` that owns ``folder``, or None when no live server
    is named in its lock file (or it does not answer)."""
    from imagevec.store.locking import owner_of

    path = Path(folder).expanduser()
    record = owner_of(path)
    if not record.get("url") or not record.get("write_token"):
        return None
    client = OwnerClient(
        str(record["url"]),
        path,
        token=str(record.get("token") or ""),
        write_token=str(record["write_token"]),
    )
    try:
        client.info()
    except (NoServerError, ConfigError):
        client.close()
        return None
    return client
