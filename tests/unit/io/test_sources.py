"""read_source: string classification, policy, and URL fetching against a loopback server.

Every network test talks to an ``http.server`` on 127.0.0.1 started here; addresses that must
be refused are refused before any connection, which the server's request log proves.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from imagevec.errors import ConfigError, ImageLoadError, ImageTooLargeError, UnsafeSourceError
from imagevec.io import http as _urlfetch
from imagevec.io.decode import load_image
from imagevec.io.policy import SourcePolicy
from imagevec.io.sources import read_source

buf = io.BytesIO()
Image.fromarray(skdata.astronaut()).resize((128, 128)).save(buf, "JPEG", quality=90)
JPEG = buf.getvalue()
LOCAL = SourcePolicy(allow_urls=True, allow_private_addresses=True, timeout=2.0)


class Server:
    """A loopback HTTP server with a few routes and a log of what reached it."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        routes = self.routes = {
            "/cat.jpg": (200, {"Content-Type": "image/jpeg"}, JPEG),
            "/redirect": (302, {"Location": "/cat.jpg"}, b""),
            "/redirect-abs": (301, {"Location": "REPLACED"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/to-other-loopback": (302, {"Location": "REPLACED"}, b""),
            "/big": (200, {"Content-Length": "5000"}, b"\xff" * 5000),
            "/page": (200, {"Content-Type": "text/html"}, b"<!DOCTYPE html><html></html>"),
        }
        log = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                log.append((self.path, self.headers.get("Host", "")))
                if self.path == "/slow":
                    time.sleep(1.0)
                if self.path == "/stream":  # no Content-Length: HTTP/1.0, body ends at close
                    self.send_response(200)
                    self.end_headers()
                    for _ in range(50):
                        self.wfile.write(b"\xff" * 100)
                    return
                if self.path == "/endless":  # 1 kB every 5 ms until the client hangs up
                    self.send_response(200)
                    self.end_headers()
                    try:
                        for _ in range(2000):
                            self.wfile.write(b"\xff" * 1000)
                            self.wfile.flush()
                            time.sleep(0.005)
                    except OSError:
                        pass
                    return
                status, headers, body = routes.get(self.path, (404, {}, b"missing"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        routes["/redirect-abs"] = (301, {"Location": self.url("/cat.jpg")}, b"")
        other = f"http://127.0.0.2:{self.port}/cat.jpg"
        routes["/to-other-loopback"] = (302, {"Location": other}, b"")
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def module_server() -> Iterator[Server]:
    server = Server()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def server(module_server: Server) -> Server:
    module_server.requests.clear()
    return module_server


# --- URLs --------------------------------------------------------------------------------------


def test_urls_are_off_by_default(server: Server) -> None:
    with pytest.raises(UnsafeSourceError, match=r"SourcePolicy\(allow_urls=True\)"):
        read_source(server.url("/cat.jpg"))
    assert server.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]"])
def test_loopback_is_refused_before_connecting(server: Server, host: str) -> None:
    with pytest.raises(UnsafeSourceError, match="address") as info:
        read_source(f"http://{host}:{server.port}/cat.jpg", SourcePolicy(allow_urls=True))
    assert "allow_private_addresses" in info.value.reason
    assert server.requests == []


def test_fetch_and_decode(server: Server) -> None:
    assert read_source(server.url("/cat.jpg"), LOCAL) == JPEG
    img = load_image(server.url("/cat.jpg"), policy=LOCAL)
    assert img.mode == "RGB" and img.size == (128, 128)


@pytest.mark.parametrize("path", ["/redirect", "/redirect-abs"])
def test_redirects_are_followed(server: Server, path: str) -> None:
    assert read_source(server.url(path), LOCAL) == JPEG
    assert [p for p, _ in server.requests] == [path, "/cat.jpg"]


def test_redirect_limit(server: Server) -> None:
    policy = SourcePolicy(allow_urls=True, allow_private_addresses=True, max_redirects=2)
    with pytest.raises(ImageLoadError, match="more than 2 redirects"):
        read_source(server.url("/loop"), policy)
    assert len(server.requests) == 3


def test_redirect_to_a_private_address_is_refused(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend 127.0.0.1 is a public server, so the first hop is allowed and the redirect to
    # another loopback address (127.0.0.2) must be caught by the per-hop check.
    real = _urlfetch.blocked_reason
    monkeypatch.setattr(
        _urlfetch,
        "blocked_reason",
        lambda addr: None if str(addr) == "127.0.0.1" else real(addr),
    )
    with pytest.raises(UnsafeSourceError, match=r"loopback address 127\.0\.0\.2"):
        read_source(server.url("/to-other-loopback"), SourcePolicy(allow_urls=True))
    assert [p for p, _ in server.requests] == ["/to-other-loopback"]


def test_connects_to_the_checked_address(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo
    lookups: list[str] = []

    def fake(host: str, *args: object, **kwargs: object) -> list:
        lookups.append(host)
        return real("127.0.0.1" if host == "images.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    url = f"http://images.test:{server.port}/cat.jpg"
    assert read_source(url, LOCAL) == JPEG
    # The name is resolved once; the connection goes to the checked IP literal (no rebinding).
    assert lookups[0] == "images.test"
    assert all(ipaddress.ip_address(host) for host in lookups[1:])
    assert server.requests == [("/cat.jpg", f"images.test:{server.port}")]
    with pytest.raises(UnsafeSourceError, match=r"images\.test"):
        read_source(url, SourcePolicy(allow_urls=True))
    assert len(server.requests) == 1


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_to_the_pinned_address_verifies_the_host_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=images.test",
         "-addext", "subjectAltName=DNS:images.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = Server()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    tls.httpd.socket = server_ctx.wrap_socket(tls.httpd.socket, server_side=True)
    real_getaddrinfo, real_context = socket.getaddrinfo, ssl.create_default_context

    def fake_getaddrinfo(host: str, *args: object, **kwargs: object) -> list:
        return real_getaddrinfo("127.0.0.1" if host.endswith(".test") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(ssl, "create_default_context", lambda: real_context(cafile=str(cert)))
    try:
        assert read_source(f"https://images.test:{tls.port}/cat.jpg", LOCAL) == JPEG
        with pytest.raises(ImageLoadError, match="network error"):  # certificate is for images.test
            read_source(f"https://other.test:{tls.port}/cat.jpg", LOCAL)
    finally:
        tls.httpd.shutdown()
        tls.httpd.server_close()


@pytest.mark.parametrize("path", ["/big", "/stream"])
def test_byte_cap(server: Server, path: str) -> None:
    policy = SourcePolicy(allow_urls=True, allow_private_addresses=True, max_bytes=1000)
    with pytest.raises(ImageTooLargeError, match="1000-byte limit"):
        read_source(server.url(path), policy)
    assert len(read_source(server.url(path), LOCAL)) == 5000


def test_endless_body_stops_at_the_cap_or_the_deadline(server: Server) -> None:
    start = time.perf_counter()
    capped = SourcePolicy(allow_urls=True, allow_private_addresses=True, max_bytes=10_000)
    with pytest.raises(ImageTooLargeError, match="10000-byte limit"):
        read_source(server.url("/endless"), capped)
    assert time.perf_counter() - start < 1.5  # stopped reading, did not wait for the end
    start = time.perf_counter()
    dripping = SourcePolicy(allow_urls=True, allow_private_addresses=True, timeout=0.4)
    with pytest.raises(ImageLoadError, match="timed out"):
        read_source(server.url("/endless"), dripping)  # each read is quick; the total is not
    assert time.perf_counter() - start < 1.5


def test_http_errors_timeouts_and_web_pages(server: Server) -> None:
    with pytest.raises(ImageLoadError, match="HTTP 404"):
        read_source(server.url("/nothing.jpg"), LOCAL)
    quick = SourcePolicy(allow_urls=True, allow_private_addresses=True, timeout=0.2)
    start = time.perf_counter()
    with pytest.raises(ImageLoadError, match="timed out"):
        read_source(server.url("/slow"), quick)
    assert time.perf_counter() - start < 0.9
    with pytest.raises(ImageLoadError, match="HTML page") as info:
        load_image(server.url("/page"), policy=LOCAL)
    assert server.url("/page") in str(info.value)


def test_scheme_policy(server: Server) -> None:
    https_only = SourcePolicy(
        allow_urls=True, allow_private_addresses=True, allowed_schemes=("https",)
    )
    with pytest.raises(UnsafeSourceError, match="scheme 'http' is not allowed"):
        read_source(server.url("/cat.jpg"), https_only)
    assert server.requests == []


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
     "224.0.0.1", "100.64.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "ff02::1",
     "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::1", "64:ff9b::a00:1",
     "2001:0:4136:e378:8000:63bf:f5ff:fffe"],
)  # fmt: skip
def test_non_public_addresses_are_blocked(address: str) -> None:
    assert _urlfetch.blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_pass(address: str) -> None:
    assert _urlfetch.blocked_reason(ipaddress.ip_address(address)) is None


# --- local inputs ------------------------------------------------------------------------------


def test_read_source_returns_bytes_or_passes_through(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(JPEG)
    b64 = base64.b64encode(JPEG).decode()
    for source in (path, str(path), path.as_uri(), JPEG, bytearray(JPEG), memoryview(JPEG),
                   io.BytesIO(JPEG), b64, f"data:image/jpeg;base64,{b64}"):  # fmt: skip
        out = read_source(source)
        assert type(out) is bytes and out == JPEG
    img, array = Image.new("RGB", (2, 2)), np.zeros((2, 2), np.uint8)
    assert read_source(img) is img and read_source(array) is array


def test_existing_file_wins_over_base64_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = base64.b64encode(JPEG[:30]).decode().replace("/", "_")  # base64-looking file name
    (tmp_path / name).write_bytes(b"file contents")
    monkeypatch.chdir(tmp_path)
    assert read_source(name) == b"file contents"


def test_missing_path_is_reported_not_decoded() -> None:
    with pytest.raises(ImageLoadError) as info:
        read_source("/definitely/not/here.png")
    assert str(info.value) == "cannot load image /definitely/not/here.png: no such file"


def test_huge_strings_are_described_briefly() -> None:
    text = "x" * 1_000_000
    with pytest.raises(ImageLoadError) as info:
        read_source(text)
    assert len(str(info.value)) < 300


def test_empty_file_object() -> None:
    stream = io.BytesIO(JPEG)
    stream.read()
    with pytest.raises(ImageLoadError, match="already read to the end"):
        read_source(stream)


def test_policy_validation() -> None:
    with pytest.raises(ConfigError, match="max_bytes"):
        SourcePolicy(max_bytes=0)
    with pytest.raises(ConfigError, match="timeout"):
        SourcePolicy(timeout=0)
    assert SourcePolicy(allowed_schemes=("HTTPS",)).allowed_schemes == ("https",)
