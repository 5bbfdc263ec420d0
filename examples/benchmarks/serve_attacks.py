"""The server under attack: RSS growth and latency of normal searches during each attack.

Starts ``imagevec serve`` (a subprocess of whatever ``imagevec`` is on PYTHONPATH, so the
same script measures an older checkout too) on 127.0.0.1 over an existing index, then runs
each attack, bounded in size and time, while a prober sends a normal text search every
0.2 s. For each attack it prints one JSON line: what the attacker got, the server's peak RSS
growth over its pre-attack RSS (``rss_mb``), and the probe latencies (``p50_ms``,
``max_ms``, ``failed``: probes that got no 200).

Usage:
    PYTHONPATH=src python examples/benchmarks/serve_attacks.py --db /tmp/db [--only parts]

Attacks: chunked (a 200 MB chunked JSON body), header (a 100 MiB header), uploads (16 at
once of a 37 KB PNG that decodes to 6300x6300), parts (a 200-part query), halfopen (1100
sockets with a partial header, server limited to 1024 descriptors), where (2500 levels),
oracle, hosts, token (the -v access log), sigterm (during the longest query allowed).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

TOKEN = "bench-token-0123456789"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Server:
    def __init__(self, db: str, *, verbose: bool = False, fd_limit: int | None = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        args = ["serve", "--db", db, "--port", str(self.port), "--token", TOKEN]
        args += ["-v"] if verbose else []
        code = "import sys; from imagevec.cli import main; sys.exit(main(sys.argv[1:]))"

        def limit() -> None:
            if fd_limit:
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

        self.log = open(f"/tmp/serve-attack-{self.port}.log", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=limit,
        )
        deadline = time.monotonic() + 180
        while self.request("GET", "/api/health", timeout=2)[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(self.log_text()[-2000:])
            time.sleep(0.3)

    def request(
        self, method: str, path: str, body: bytes | None = None, timeout: float = 30, **headers: str
    ) -> tuple[int, bytes]:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            conn.request(
                method, path, body=body, headers={"Authorization": f"Bearer {TOKEN}", **headers}
            )
            response = conn.getresponse()
            data = response.read()
            conn.close()
            return response.status, data
        except (OSError, http.client.HTTPException) as exc:
            return 0, str(exc).encode()

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def measure(server: Server, attack: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``attack`` while sampling RSS and probing with normal searches."""
    base = rss_mb(server.proc.pid)
    peak, latencies, failed = base, [], 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, rss_mb(server.proc.pid))
            except OSError:
                return
            time.sleep(0.05)

    def probe() -> None:
        nonlocal failed
        while not done.is_set():
            started = time.perf_counter()
            status, _ = server.request("GET", "/api/search?q=red+car&k=5", timeout=60)
            latencies.append((time.perf_counter() - started) * 1000)
            failed += status != 200
            time.sleep(0.2)

    threads = [threading.Thread(target=f, daemon=True) for f in (sample, probe)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    result = attack()
    result["attack_s"] = round(time.perf_counter() - started, 2)
    time.sleep(0.5)
    done.set()
    for thread in threads:
        thread.join(70)
    result["rss_mb"] = round(peak - base, 1)
    if latencies:
        result["probes"] = len(latencies)
        result["p50_ms"] = round(statistics.median(latencies), 1)
        result["max_ms"] = round(max(latencies), 1)
    result["failed"] = failed
    return result


def _raw(
    port: int, head: bytes, stream: Callable[[socket.socket, list[int]], None]
) -> tuple[int, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head)
    sent = [0]  # bytes the server took before it answered or closed
    with contextlib.suppress(OSError):
        stream(sock, sent)
    try:
        reply = sock.recv(200)
    except OSError as exc:
        reply = str(exc).encode()
    sock.close()
    return sent[0], reply


def chunked(server: Server) -> dict[str, Any]:
    head = (
        b"POST /api/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    )

    def stream(sock: socket.socket, sent: list[int]) -> None:
        piece = b"a" * 1_000_000
        opening = b'{"text": "x", "where": {"a": "'
        sock.sendall(b"%x\r\n" % len(opening) + opening + b"\r\n")
        while sent[0] < 200_000_000:
            sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            sent[0] += len(piece)
        sock.sendall(b'3\r\n"}}\r\n0\r\n\r\n')

    sent, reply = _raw(server.port, head, stream)
    return {"sent_mb": round(sent / 1e6, 1), "reply": reply[:40].decode("latin-1")}


def header(server: Server) -> dict[str, Any]:
    def stream(sock: socket.socket, sent: list[int]) -> None:
        while sent[0] < 100 * 2**20:
            sock.sendall(b"a" * 2**20)
            sent[0] += 2**20
        sock.sendall(b"\r\n\r\n")

    head = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    sent, reply = _raw(server.port, head, stream)
    return {"sent_mib": round(sent / 2**20, 1), "reply": reply[:40].decode("latin-1")}


def uploads(server: Server) -> dict[str, Any]:
    buffer = io.BytesIO()
    Image.new("L", (6300, 6300), 0).save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    statuses: list[int] = []

    def one() -> None:
        statuses.append(server.request("POST", "/api/search/image?k=3", body=data, timeout=120)[0])

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return {"png_kb": len(data) // 1000, "statuses": sorted(statuses)}


def parts(server: Server, count: int = 200) -> dict[str, Any]:
    query = " + ".join(f"thing{i}" for i in range(count))
    body = json.dumps({"query": query[:4000]}).encode()
    started = time.perf_counter()
    status, data = server.request(
        "POST", "/api/search", body=body, timeout=300, **{"Content-Type": "application/json"}
    )
    took = round(time.perf_counter() - started, 2)
    return {"parts": count, "status": status, "query_s": took, "detail": data[:80].decode()}


def halfopen(server: Server) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    sockets = []
    for _ in range(1100):
        try:
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            sockets.append(sock)
        except OSError:
            break
    time.sleep(1.0)
    answered = sum(server.request("GET", "/api/health", timeout=5)[0] == 200 for _ in range(20))
    closed = 0
    time.sleep(12)  # past the 10 s header deadline
    for sock in sockets:
        sock.setblocking(False)
        try:
            closed += sock.recv(10) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        sock.close()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return {"opened": len(sockets), "answered_of_20": answered, "closed_by_server": closed}


def where(server: Server) -> dict[str, Any]:
    deep = '{"$and":[' * 2500 + '{"width":1}' + ',{"width":1}]}' * 2500
    body = f'{{"text": "red", "where": {deep}}}'.encode()
    status, data = server.request(
        "POST", "/api/search", body=body, **{"Content-Type": "application/json"}
    )
    from urllib.parse import quote

    deep_get = '{"$and":[' * 900 + '{"width":1}' + ',{"width":1}]}' * 900
    get_status, get_data = server.request("GET", f"/api/search?q=red&where={quote(deep_get)}")
    return {
        "post": [status, data[:60].decode()],
        "get_900": [get_status, get_data[:60].decode()],
    }


def oracle(server: Server) -> dict[str, Any]:
    Path("/tmp/an existing.jpg").write_bytes(b"x")
    from urllib.parse import quote

    got = {}
    for name in ("/tmp/an existing.jpg", "/tmp/not existing.jpg"):
        got[name] = server.request("GET", f"/api/search?q={quote(name)}")[0]
    return {"statuses": got}


def hosts(server: Server) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("GET", "/api/health", skip_host=True)
    conn.putheader("Host", "evil.example")
    conn.putheader("Host", "127.0.0.1")
    conn.putheader("Authorization", f"Bearer {TOKEN}")
    conn.endheaders()
    return {"status": conn.getresponse().status}


def token(db: str) -> dict[str, Any]:
    server = Server(db, verbose=True)
    try:
        server.request("GET", f"/?token={TOKEN}")
        time.sleep(0.5)
        access = [line for line in server.log_text().splitlines() if '"GET /?' in line]
        return {"access_lines": access, "token_in_access_log": any(TOKEN in a for a in access)}
    finally:
        server.stop()


def sigterm(server: Server, count: int) -> dict[str, Any]:
    thread = threading.Thread(target=parts, args=(server, count), daemon=True)
    thread.start()
    time.sleep(2.0)
    started = time.perf_counter()
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(240)
        return {"parts": count, "exit_s": round(time.perf_counter() - started, 1)}
    except subprocess.TimeoutExpired:
        return {"parts": count, "exit_s": "> 240 (killed)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--sigterm-parts", type=int, default=16)
    parser.add_argument("--parts", type=int, default=200, help="parts of the parts attack")
    args = parser.parse_args()
    print(json.dumps({"load": os.getloadavg(), "cores": os.cpu_count()}))
    plain: dict[str, Callable[[Server], dict[str, Any]]] = {
        "chunked": chunked,
        "header": header,
        "uploads": uploads,
        "parts": lambda server: parts(server, args.parts),
    }
    plain |= {"where": where, "oracle": oracle, "hosts": hosts}
    wanted = args.only or [*plain, "halfopen", "token", "sigterm"]
    server = Server(args.db)
    try:
        for name in [n for n in wanted if n in plain]:
            print(json.dumps({name: measure(server, lambda f=plain[name]: f(server))}), flush=True)
    finally:
        server.stop()
    if "halfopen" in wanted:
        limited = Server(args.db, fd_limit=1024)
        try:
            print(json.dumps({"halfopen": measure(limited, lambda: halfopen(limited))}), flush=True)
        finally:
            limited.stop()
    if "token" in wanted:
        print(json.dumps({"token": token(args.db)}), flush=True)
    if "sigterm" in wanted:
        server = Server(args.db)
        try:
            print(json.dumps({"sigterm": sigterm(server, args.sigterm_parts)}), flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
