"""Keep-alive HTTP/1.1 to one origin, for the one request the sender makes a thousand times a second.

Why not urllib3: per SendEmail call it cost ~520 µs of CPU on our development machine (URL and
header objects, retry and timeout bookkeeping, http.client's header parsing through the email
package); this module does the same exchange in ~220 µs, most of it the kernel copying ~100 KB.
It is deliberately small: POST with a Content-Length body; answers with Content-Length, chunked, or
read-to-close bodies; interim 1xx answers skipped; TLS verified with the given CA bundle.

Two failures, because the caller must tell them apart (DESIGN: a send is never retried blindly):
- `ConnectFailed`: no byte of the request left (DNS, refused, connect timeout, TLS handshake);
- `ExchangeFailed`: the request may have reached the server (reset, timeout or EOF after sending).

An idle pooled connection the server has closed is noticed before it is used (its socket reads as
ready: EOF or a TLS close) and replaced, as urllib3 does; the race left (a close between that check and
our write) surfaces as `ExchangeFailed`.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading

MAX_LINE = 65536
MAX_HEADERS = 100


class ConnectFailed(Exception):
    """The request was not sent."""


class ExchangeFailed(Exception):
    """The request may have been received; its outcome is unknown."""


class _Connection:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.reader = sock.makefile("rb")

    def dropped(self) -> bool:
        """True when an idle connection has something to read: the server's EOF or TLS close."""
        try:
            if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
                return True
            return bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    def close(self) -> None:
        for thing in (self.reader, self.sock):
            try:
                thing.close()
            except OSError:
                pass


class Http1Pool:
    def __init__(self, scheme: str, host: str, port: int | None, *, connect_timeout: float, read_timeout: float,
                 maxsize: int, ssl_context: ssl.SSLContext | None = None):
        if scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) scheme: {scheme!r}")
        self.host, self.port = host, port or (443 if scheme == "https" else 80)
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.ssl_context = ssl_context if scheme == "https" else None
        if scheme == "https" and self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        self.maxsize = maxsize
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def post(self, path: str, header_block: bytes, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lower-case names, body). `header_block` holds every header line
        (each ending in CRLF) except Content-Length."""
        conn = self._checkout()
        request = (f"POST {path} HTTP/1.1\r\n".encode("ascii") + header_block
                   + f"Content-Length: {len(body)}\r\n\r\n".encode("ascii"))
        try:
            conn.sock.sendall(request)
            conn.sock.sendall(body)
            status, headers, data, reusable = _read_response(conn.reader)
        except TimeoutError as exc:  # socket.timeout
            conn.close()
            raise ExchangeFailed(f"Read timeout: no answer within {self.read_timeout:g} s") from exc
        except (OSError, ValueError) as exc:
            conn.close()
            raise ExchangeFailed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        if reusable:
            self._checkin(conn)
        else:
            conn.close()
        return status, headers, data

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _checkout(self) -> _Connection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect()
            if not conn.dropped():
                return conn
            conn.close()

    def _checkin(self, conn: _Connection) -> None:
        with self._lock:
            if len(self._idle) < self.maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def _connect(self) -> _Connection:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
            sock.settimeout(self.read_timeout)
        except OSError as exc:  # ssl.SSLError included: nothing of the request was sent yet
            sock.close()
            raise ConnectFailed(f"TLS with {self.host}:{self.port} failed: {exc}") from exc
        return _Connection(sock)


def _read_response(reader) -> tuple[int, dict[str, str], bytes, bool]:
    while True:
        version, status = _status_line(reader)
        headers = _headers(reader)
        if status >= 200:
            break  # 1xx: interim answers carry no body; the real one follows
    data, until_close = _body(reader, headers)
    keep_alive = (version == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
                  and not until_close)
    return status, headers, data, keep_alive


def _line(reader) -> bytes:
    line = reader.readline(MAX_LINE + 1)
    if not line:
        raise ValueError("connection closed before a complete response")
    if len(line) > MAX_LINE:
        raise ValueError("response line too long")
    return line


def _status_line(reader) -> tuple[str, int]:
    parts = _line(reader).decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {' '.join(parts)[:80]!r}")
    return parts[0], int(parts[1])


def _headers(reader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = _line(reader)
        if line in (b"\r\n", b"\n"):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line[:80]!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    raise ValueError("too many header lines")


def _body(reader, headers: dict[str, str]) -> tuple[bytes, bool]:
    """(body, read until the server closed)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _chunked(reader), False
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ValueError(f"bad Content-Length {length!r}")
        data = reader.read(int(length))
        if len(data) != int(length):
            raise ValueError("connection closed inside the response body")
        return data, False
    return reader.read(), True


def _chunked(reader) -> bytes:
    chunks = []
    while True:
        size_text = _line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ValueError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            while _line(reader) not in (b"\r\n", b"\n"):  # trailer fields, ignored
                pass
            return b"".join(chunks)
        chunk = reader.read(size)
        if len(chunk) != size or reader.read(2) != b"\r\n":
            raise ValueError("connection closed inside a chunk")
        chunks.append(chunk)
