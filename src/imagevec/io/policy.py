"""What a source reader may read: :class:`SourcePolicy` (a leaf: imports only errors).

URLs are off by default; ``path_roots`` confines local reads (agent tools, servers).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from imagevec.errors import ConfigError

__all__ = ["DEFAULT_POLICY", "SourcePolicy"]


@dataclass(frozen=True)
class SourcePolicy:
    """What :func:`read_source` may read, and how much.

    Attributes:
        allow_urls: fetch ``http(s)://`` URLs. Off by default: a URL in the input then raises
            :class:`~imagevec.errors.UnsafeSourceError`.
        max_bytes: cap on the encoded bytes read from any source (file, URL, bytes, base64).
        timeout: seconds for a whole URL download: redirects, connect, headers and body.
        max_redirects: redirects followed by hand, each hop re-checked.
        allow_private_addresses: let URLs reach loopback/private/link-local hosts. Only for
            tests and trusted intranets: it re-opens server-side request forgery.
        allowed_schemes: URL schemes that may be fetched (a subset of ``http``, ``https``).
        allow_paths: read local paths and ``file://`` URIs. Turn off when inputs come from
            untrusted users (e.g. an agent tool).
        path_roots: when set, local paths must resolve (symlinks followed) inside one of
            these directories (``~`` is expanded).

    Example:
        >>> policy = SourcePolicy(allow_urls=True, max_bytes=10 * 2**20)
    """

    allow_urls: bool = False
    max_bytes: int = 50 * 2**20
    timeout: float = 10.0
    max_redirects: int = 3
    allow_private_addresses: bool = False
    allowed_schemes: tuple[str, ...] = ("http", "https")
    allow_paths: bool = True
    path_roots: tuple[str | os.PathLike[str], ...] | None = None

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ConfigError(f"SourcePolicy.max_bytes must be positive, got {self.max_bytes}")
        if self.timeout <= 0:
            raise ConfigError(f"SourcePolicy.timeout must be positive, got {self.timeout}")
        if self.max_redirects < 0:
            raise ConfigError(f"SourcePolicy.max_redirects must be >= 0, got {self.max_redirects}")
        object.__setattr__(self, "allowed_schemes", tuple(s.lower() for s in self.allowed_schemes))
        if self.path_roots is not None:
            roots = (os.path.expanduser(os.fspath(root)) for root in self.path_roots)
            object.__setattr__(self, "path_roots", tuple(roots))

    @classmethod
    def for_agent(
        cls,
        path_roots: Sequence[str | os.PathLike[str]] | None = None,
        *,
        allow_urls: bool = False,
    ) -> SourcePolicy:
        """The policy for an image that a language model chooses (agent tools).

        Local files are read only under ``path_roots``; with none, no local file is read at
        all (data URIs still work). URLs only with ``allow_urls``.

        Example:
            >>> SourcePolicy.for_agent(["/srv/photos"]).allow_paths
            True
            >>> SourcePolicy.for_agent().allow_paths
            False
        """
        roots = tuple(path_roots) if path_roots else None
        return cls(allow_urls=allow_urls, allow_paths=roots is not None, path_roots=roots)


DEFAULT_POLICY = SourcePolicy()
