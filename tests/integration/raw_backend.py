"""Backends for the smuggling and strictness corpus (tests/integration/test_smuggling.py, docs/security.md).

RawBackend  a raw TCP HTTP/1.1 server that records every byte it receives, per connection, and parses the
            stream itself, strictly (RFC 9112: CRLF lines, Content-Length or chunked, nothing in between), so
            that a request smuggled behind another one on the same connection is SEEN as a second request. Each
            request it parses gets a fixed answer whose body names that request ("raw <n> <METHOD> <target>"),
            so a client that receives another request's answer is caught. A WebSocket handshake gets a 101 (with
            the right Sec-WebSocket-Accept, and optionally frames right behind it); after it the connection's
            bytes are only recorded. Bytes it cannot parse as HTTP/1.1 are recorded as a parse error and the
            connection is closed (400): the corpus asserts there are none.
NginxBackend a stock nginx (Debian's nginx-light) on a free loopback port with a generated configuration:
            location /chat/ answers "chat", location / answers "open" — the interpreter a real deployment
            would have behind the gateway, to judge path-bypass vectors by nginx's own location matching. Its
            access log records, per request, the request line as received and nginx's normalised $uri.

Both run until stop(); the test module's fixtures stop them in their finalizers (nginx is an it.Proc, so it is
also killed with the test session, whatever happens).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import tollgate_it as it

TCHAR = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class ParseError(Exception):
    pass


class NeedMore(Exception):
    pass


@dataclass
class Request:
    """One request as the backend parsed it."""
    conn: int
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes  # every byte of it, as received

    def header(self, name: str) -> str | None:
        vals = self.all(name)
        return vals[0] if vals else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Conn:
    """One accepted connection: the bytes received (all of them, in order) and what became of them."""
    index: int
    raw: bytearray = field(default_factory=bytearray)
    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    upgraded: bool = False
    closed: bool = False


def _parse_chunked(buf: bytes, pos: int) -> tuple[bytes, int]:
    """Decodes a chunked body starting at buf[pos]; returns (body, end). Strict: HEXDIG sizes, chunk extensions
    of tokens / quoted strings are skipped, CRLF everywhere, trailer fields must be field lines."""
    body = b""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            if len(buf) - pos > 8192:
                raise ParseError("chunk-size line too long")
            raise NeedMore
        line = buf[pos:eol]
        size_txt = line.split(b";", 1)[0].rstrip(b" \t")  # BWS before an extension (RFC 9112 §7.1.1)
        if not size_txt or any(c not in b"0123456789abcdefABCDEF" for c in size_txt):
            raise ParseError(f"bad chunk size {line[:40]!r}")
        if b"\n" in line or b"\r" in line:
            raise ParseError("bare CR/LF in a chunk-size line")
        size = int(size_txt, 16)
        pos = eol + 2
        if size == 0:
            break
        if len(buf) < pos + size + 2:
            raise NeedMore
        body += buf[pos:pos + size]
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise ParseError("chunk data not followed by CRLF")
        pos += size + 2
    while True:  # trailer section
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            raise NeedMore
        line = buf[pos:eol]
        pos = eol + 2
        if not line:
            return body, pos
        name, colon, _ = line.partition(b":")
        if not colon or not name or any(c not in TCHAR for c in name):
            raise ParseError(f"bad trailer line {line[:40]!r}")


def parse_request(buf: bytes, conn: int = 0) -> tuple[Request, int]:
    """Parses one request from the start of buf. Returns (request, bytes used); NeedMore; or ParseError.
    Strict as the corpus needs it: CRLF line ends only, no obs-fold, token field names right up to the colon,
    one Content-Length of digits, Transfer-Encoding exactly "chunked", never both, HTTP/1.0 or HTTP/1.1."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > 65536:
            raise ParseError("head too long")
        if b"\n" in buf.replace(b"\r\n", b"") or b"\r" in buf.replace(b"\r\n", b"")[:-1]:
            raise ParseError("bare CR or LF")
        raise NeedMore
    head = buf[:end]
    if b"\n" in head.replace(b"\r\n", b"") or b"\r" in head.replace(b"\r\n", b""):
        raise ParseError("bare CR or LF")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[0] or any(c not in TCHAR for c in parts[0]) or not parts[1]:
        raise ParseError(f"bad request line {lines[0][:80]!r}")
    if parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise ParseError(f"bad version {parts[2][:20]!r}")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or any(c not in TCHAR for c in name):
            raise ParseError(f"bad field line {line[:80]!r}")
        headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    pos = end + 4
    cls = [v for k, v in headers if k.lower() == "content-length"]
    tes = [v for k, v in headers if k.lower() == "transfer-encoding"]
    if cls and tes:
        raise ParseError("both Content-Length and Transfer-Encoding")
    if len(cls) > 1 or len(tes) > 1:
        raise ParseError("repeated framing field")
    body = b""
    if tes:
        if tes[0].lower() != "chunked":
            raise ParseError(f"transfer coding {tes[0]!r}")
        body, pos = _parse_chunked(buf, pos)
    elif cls:
        if not cls[0].isdigit():
            raise ParseError(f"Content-Length {cls[0]!r}")
        n = int(cls[0])
        if len(buf) < pos + n:
            raise NeedMore
        body = buf[pos:pos + n]
        pos += n
    req = Request(conn, parts[0].decode(), parts[1].decode("latin-1"), parts[2].decode(), headers, body, buf[:pos])
    return req, pos


class RawBackend:
    """See the module comment. `answer_chunked`: answer with a chunked body instead of Content-Length.
    `after_101`: bytes sent right behind each 101 (e.g. a masked frame, which a server must never send).
    `close_on_request`: n > 0 closes a connection, unanswered, when its n-th request arrives (a keep-alive
    connection the backend dropped while the gateway held it in its pool). `interim`: bytes sent before each
    answer (e.g. a 103 Early Hints head)."""

    def __init__(self, name: str = "raw", answer_chunked: bool = False, after_101: bytes = b"",
                 extensions: str = "", close_on_request: int = 0, interim: bytes = b""):
        self.name = name
        self.interim = interim
        self.close_on_request = close_on_request
        self.answer_chunked = answer_chunked
        self.after_101 = after_101
        self.extensions = extensions
        self.lock = threading.Lock()
        self.conns: list[Conn] = []
        self._socks: list[socket.socket] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.answered = 0
        self._stopped = False

    def start(self) -> "RawBackend":
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def endpoint(self) -> dict:
        return it.endpoint(self.port)

    def stop(self) -> None:
        self._stopped = True
        with contextlib.suppress(OSError):
            self.sock.close()
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    # ---- what was received (since the last reset)

    def reset(self) -> None:
        """Forgets what was recorded so far; connections that stay open (the data plane's pool) go on being
        recorded from here, as new records."""
        with self.lock:
            for c in self.conns:
                c.raw.clear()
                c.requests.clear()
                c.errors.clear()
            self.conns = [c for c in self.conns if not c.closed]

    def received(self) -> bytes:
        """Every byte received since the last reset, connection after connection."""
        with self.lock:
            return b"".join(bytes(c.raw) for c in self.conns)

    def requests(self) -> list[Request]:
        with self.lock:
            return [r for c in self.conns for r in c.requests]

    def errors(self) -> list[str]:
        with self.lock:
            return [e for c in self.conns for e in c.errors]

    def upgraded(self) -> list[Conn]:
        with self.lock:
            return [c for c in self.conns if c.upgraded]

    def settle(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Waits until no byte has arrived for `quiet` seconds (a smuggled tail arrives right behind its
        carrier; this is the window in which it would show)."""
        deadline = time.monotonic() + timeout * it.SLOW
        last = -1
        while time.monotonic() < deadline:
            n = len(self.received())
            if n == last:
                return
            last = n
            time.sleep(quiet)

    # ---- serving

    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                conn = Conn(len(self.conns))
                self.conns.append(conn)
                self._socks.append(s)
            threading.Thread(target=self._serve, args=(s, conn), daemon=True).start()

    def _answer(self, req: Request) -> bytes:
        with self.lock:
            self.answered += 1
            n = self.answered
        body = f"{self.name} {n} {req.method} {req.target}".encode("latin-1")
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Raw-Backend: {self.name}\r\n"
        if self.answer_chunked:
            return self.interim + (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + \
                b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        return self.interim + (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def _upgrade(self, req: Request) -> bytes:
        key = (req.header("sec-websocket-key") or "").encode()
        accept = it.ws_accept_key(key).decode()
        ext = f"Sec-WebSocket-Extensions: {self.extensions}\r\n" if self.extensions else ""
        return (f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n{ext}\r\n").encode() + self.after_101

    def _serve(self, s: socket.socket, conn: Conn) -> None:
        buf = b""
        with s:
            s.settimeout(60)
            while True:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    conn.closed = True
                    return
                with self.lock:
                    conn.raw += data
                if conn.upgraded:
                    continue  # WebSocket bytes: recorded only
                buf += data
                while buf and not conn.upgraded:
                    try:
                        req, used = parse_request(buf, conn.index)
                    except NeedMore:
                        break
                    except ParseError as e:
                        with self.lock:
                            conn.errors.append(str(e))
                        with contextlib.suppress(OSError):
                            s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        conn.closed = True
                        return
                    buf = buf[used:]
                    with self.lock:
                        conn.requests.append(req)
                    if self.close_on_request and len(conn.requests) == self.close_on_request:
                        conn.closed = True
                        return
                    is_ws = (req.header("upgrade") or "").lower() == "websocket"
                    out = self._upgrade(req) if is_ws else self._answer(req)
                    if is_ws:
                        conn.upgraded = True
                    try:
                        s.sendall(out)
                    except OSError:
                        conn.closed = True
                        return


class NginxBackend:
    """A stock nginx on loopback: location /chat/ → 200 "chat", location / → 200 "open" (see the module comment).
    The access log holds one line per request: the request line as received, a tab, nginx's $uri."""

    NGINX = "/usr/sbin/nginx"

    def __init__(self, run_dir: Path, name: str = "nginx"):
        self.dir = Path(run_dir) / f"{name}-{time.monotonic_ns()}"
        self.name = name
        self.port = 0
        self.proc: it.Proc | None = None

    def start(self) -> "NginxBackend":
        self.dir.mkdir(parents=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir()
        last = ""
        for _ in range(3):
            self.port = it.free_port()
            d = self.dir
            conf = f"""
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format corpus '$request\\t$uri';
    access_log {d}/access.log corpus;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        server_name _;
        default_type text/plain;
        location /chat/ {{ return 200 "chat"; }}
        location / {{ return 200 "open"; }}
    }}
}}
"""
            (d / "nginx.conf").write_text(conf)
            self.proc = it.Proc(self.name, [self.NGINX, "-p", str(d), "-e", str(d / "error.log"),
                                            "-c", str(d / "nginx.conf")], d)
            try:
                it.wait_until(lambda: not self.proc.alive() or it.port_open(self.port), 10 * it.SLOW,
                              what="nginx listening")
            except TimeoutError:
                pass
            if self.proc.alive() and it.port_open(self.port):
                return self
            last = self.proc.log_tail() + (d / "error.log").read_text(errors="replace")[-2000:] \
                if (d / "error.log").exists() else self.proc.log_tail()
            self.proc.kill()
        raise RuntimeError(f"nginx did not start:\n{last}")

    def endpoint(self) -> dict:
        return it.endpoint(self.port)

    def access_lines(self) -> list[tuple[str, str]]:
        """(request line, $uri) of every request nginx served so far."""
        p = self.dir / "access.log"
        if not p.exists():
            return []
        out = []
        for line in p.read_text(errors="replace").splitlines():
            req, _, uri = line.partition("\t")
            out.append((req, uri))
        return out

    def settled_access_lines(self, quiet: float = 0.1, timeout: float = 3.0) -> list[tuple[str, str]]:
        """access_lines() once nginx has written nothing new for `quiet` seconds: a request answered just before
        (e.g. by the previous test) may reach the log a moment after its answer reached the client."""
        deadline = time.monotonic() + timeout
        lines = self.access_lines()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            again = self.access_lines()
            if again == lines:
                break
            lines = again
        return lines

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(5.0)
            self.proc = None
