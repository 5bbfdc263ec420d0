"""Fetch an image over HTTP(S) without handing an attacker the network (SSRF-safe).

Used by :func:`imagevec.io.sources.read_source` when ``SourcePolicy(allow_urls=True)``. Each hop:
the host is resolved once, every address is checked (private, loopback, link-local, multicast,
reserved, unspecified, IPv4-mapped/6to4/NAT64 forms), and the connection goes to the checked
address itself (no second DNS lookup, so no DNS rebinding). Redirects are followed by hand and
re-checked; bodies are streamed under a byte cap. One deadline (``policy.timeout``) covers the
whole fetch, redirects, connect, headers and body included: a watchdog shuts the socket down
when it passes, so a server that trickles one byte at a time cannot hold a fetch longer (only
the DNS lookup is not covered). Environment proxies are ignored on purpose.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from imagevec.errors import ImageLoadError, ImageTooLargeError, UnsafeSourceError

if TYPE_CHECKING:
    from imagevec.io.policy import SourcePolicy

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_USER_AGENT = "imagevec (+https://pypi.org/project/imagevec/)"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address, or ``None`` when it is.

    Example:
        >>> blocked_reason(ipaddress.ip_address("127.0.0.1"))
        'loopback address 127.0.0.1'
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = blocked_reason(embedded)
            return None if inner is None else f"{inner} (embedded in {address})"
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return f"{kind.replace('_', '-')} address {address}"
    if not address.is_global:
        return f"non-public address {address}"
    return None


def _resolve(host: str, port: int, url: str, policy: SourcePolicy) -> str:
    """Resolve ``host`` and return the address to connect to, after checking all of them."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ImageLoadError(url, f"cannot resolve host {host!r} ({exc})") from exc
    addresses = [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
    if not addresses:
        raise ImageLoadError(url, f"host {host!r} has no IPv4/IPv6 address")
    if not policy.allow_private_addresses:
        for text in addresses:
            reason = blocked_reason(ipaddress.ip_address(text.split("%", 1)[0]))
            if reason is not None:
                raise UnsafeSourceError(
                    url,
                    f"host {host!r} resolves to a {reason}; refused to prevent requests into "
                    "private networks (SourcePolicy(allow_private_addresses=True) allows it)",
                )
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a fixed, already checked IP; ``Host`` stays the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = self._raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def abort(self) -> None:
        """Shut the socket down from another thread: a blocked read returns at once."""
        _shutdown(getattr(self, "_raw", None))


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a fixed IP; the certificate is verified against the URL's host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = self._raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]

    def abort(self) -> None:
        """Shut the raw socket down from another thread: a blocked read returns at once."""
        _shutdown(getattr(self, "_raw", None))


def _shutdown(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def _check_url(url: str, policy: SourcePolicy) -> tuple[str, str, int, str]:
    """Validate one URL and return (scheme, host, port, path-with-query)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in policy.allowed_schemes:
        raise UnsafeSourceError(
            url, f"scheme {scheme!r} is not allowed (allowed: {', '.join(policy.allowed_schemes)})"
        )
    if scheme not in ("http", "https"):
        raise UnsafeSourceError(url, f"scheme {scheme!r} cannot be fetched (only http/https)")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ImageLoadError(url, f"malformed URL ({exc})") from exc
    if not host:
        raise ImageLoadError(url, "URL has no host")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, host, port or (443 if scheme == "https" else 80), path


def fetch_url(url: str, policy: SourcePolicy) -> bytes:
    """Download ``url`` under ``policy`` and return the body.

    Raises:
        UnsafeSourceError: a scheme or address the policy refuses (checked before connecting).
        ImageTooLargeError: the body is larger than ``policy.max_bytes``.
        ImageLoadError: HTTP errors, timeouts, too many redirects, network errors.
    """
    deadline = time.monotonic() + policy.timeout
    current = url
    for _hop in range(policy.max_redirects + 1):
        scheme, host, port, path = _check_url(current, policy)
        address = _resolve(host, port, current, policy)
        left = deadline - time.monotonic()
        if left <= 0:
            raise _timed_out(url, policy)
        kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        conn = kind(host, port, address, timeout=left)
        watchdog = threading.Timer(left, conn.abort)
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.request(
                "GET",
                path,
                headers={
                    "User-Agent": _USER_AGENT,
                    "Accept": "image/*",
                    "Accept-Encoding": "identity",
                },
            )
            response = conn.getresponse()
            if response.status in _REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise ImageLoadError(url, f"HTTP {response.status} redirect without Location")
                current = urljoin(current, location)
                continue
            if response.status != 200:
                raise ImageLoadError(
                    url, f"HTTP {response.status} {response.reason} from {current}"
                )
            body = _read_capped(response, url, policy)
            if time.monotonic() >= deadline:  # the watchdog may have cut the body short
                raise _timed_out(url, policy)
            return body
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, TimeoutError) or time.monotonic() >= deadline:
                raise _timed_out(url, policy) from exc
            raise ImageLoadError(url, f"network error ({type(exc).__name__}: {exc})") from exc
        finally:
            watchdog.cancel()
            conn.close()
    raise ImageLoadError(url, f"more than {policy.max_redirects} redirects")


def _timed_out(url: str, policy: SourcePolicy) -> ImageLoadError:
    return ImageLoadError(url, f"timed out after {policy.timeout:g} s (the whole fetch)")


def _read_capped(response: http.client.HTTPResponse, url: str, policy: SourcePolicy) -> bytes:
    """Read the body in chunks, stopping at the byte cap (the watchdog keeps the deadline)."""
    length = response.getheader("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > policy.max_bytes:
        raise ImageTooLargeError(
            url, f"Content-Length {int(length)} exceeds the {policy.max_bytes}-byte limit"
        )
    chunks: list[bytes] = []
    total = 0
    while chunk := response.read1(_CHUNK):
        total += len(chunk)
        if total > policy.max_bytes:
            raise ImageTooLargeError(url, f"body exceeds the {policy.max_bytes}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
