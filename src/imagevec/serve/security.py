"""The server's gate: Host header check, bearer token, body size cap, safe response headers.

One pure ASGI middleware, in front of every route (page, static files and API):

* **Host**: the ``Host`` header must name one of ``allowed_hosts`` (port ignored) — this
  stops DNS-rebinding pages from reaching a server on 127.0.0.1. ``"*"`` allows any.
* **Token** (when set): ``Authorization: Bearer <token>`` or the ``imagevec_token`` cookie.
  Opening the page once as ``/?token=<token>`` sets that cookie (HttpOnly, SameSite=Strict)
  and redirects to ``/``, so the browser's own image requests carry it. Compared in
  constant time. Missing or wrong: 401.
* **One Host**: a request with more than one ``Host`` header gets 400 (which one a proxy or
  a route would read is anyone's guess).
* **Body cap**: a request announcing more than ``max_body`` bytes gets 413 before any byte
  is read; a body sent without a length (chunked) is counted as it arrives and gets 413 at
  the cap, so no route ever reads more (routes that read a body also count what they read).
* **Requests in flight**: at most ``max_inflight`` at once; more get 503 with
  ``Retry-After`` at once (bounded memory and threads under a flood).
* **Headers**: a strict Content-Security-Policy (same origin only, no inline script), no
  sniffing, no referrer, no framing. No CORS headers are ever sent.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "imagevec_token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; script-src 'self'; "
        b"style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def host_of(header: str) -> str:
    """The host name of a ``Host`` header value, lower case, without port or brackets."""
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:8700
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Gate:
    """ASGI middleware enforcing the rules in the module docstring.

    Args:
        app: the application behind the gate.
        token: the bearer token, or None for no authentication (loopback only).
        allowed_hosts: host names accepted in the ``Host`` header (``"*"``: any).
        max_body: largest request body accepted, in bytes.
        max_inflight: requests handled at once; more get 503.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        allowed_hosts: Iterable[str],
        max_body: int,
        max_inflight: int = 64,
    ) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.hosts = {h.lower().strip("[]") for h in allowed_hosts}
        self.max_body = max_body
        self.max_inflight = max_inflight
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if sum(k == b"host" for k, _ in scope["headers"]) > 1:
            await _reply(send, 400, {"detail": "more than one Host header"})
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if "*" not in self.hosts and host_of(headers.get("host", "")) not in self.hosts:
            await _reply(send, 400, {"detail": "unknown Host header"})
            return
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > self.max_body:
            await _reply(send, 413, {"detail": f"request body over {self.max_body} bytes"})
            return
        if self.inflight >= self.max_inflight:
            await _reply(send, 503, {"detail": "server busy, try again"}, retry=True)
            return
        self.inflight += 1
        try:
            await self._checked(scope, receive, send, headers)
        finally:
            self.inflight -= 1

    async def _checked(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]
    ) -> None:
        if self.token is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if scope["path"] == "/" and "token" in query:
                await self._login(send, query["token"][0])
                return
            if not self._authorised(headers):
                await _reply(send, 401, {"detail": "missing or wrong token"}, bearer=True)
                return

        if "content-length" not in headers and "transfer-encoding" in headers:
            body = await _read_capped(receive, self.max_body)
            if body is None:  # close: the rest of the body is never read
                detail = {"detail": f"request body over {self.max_body} bytes"}
                await _reply(send, 413, detail, close=True)
                return
            receive = _replay(body, receive)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _authorised(self, headers: dict[str, str]) -> bool:
        assert self.token is not None
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and hmac.compare_digest(auth[7:].encode(), self.token):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is just no cookie
            return False
        morsel = cookie.get(COOKIE)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), self.token)

    async def _login(self, send: Send, given: str) -> None:
        assert self.token is not None
        if not hmac.compare_digest(given.encode(), self.token):
            await _reply(send, 401, {"detail": "wrong token"}, bearer=True)
            return
        cookie = f"{COOKIE}={given}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", b"/"), (b"set-cookie", cookie.encode()), *_HEADERS],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def _read_capped(receive: Receive, cap: int) -> bytes | None:
    """The whole request body, or None as soon as it passes ``cap`` bytes (or the client
    goes away): a body without a length is never read past the cap."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app ``body`` once, then waits on the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _reply(
    send: Send,
    status: int,
    body: dict[str, Any],
    *,
    bearer: bool = False,
    retry: bool = False,
    close: bool = False,
) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if bearer:
        headers.append((b"www-authenticate", b"Bearer"))
    if retry:
        headers.append((b"retry-after", b"1"))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers + _HEADERS})
    await send({"type": "http.response.body", "body": data})
