"""Keep-alive HTTP/1.1 connections to one origin (urllib3's connection pool) for the lean SES path,
with the one distinction the send loop needs from every failed call:

- `ConnectFailed`: no byte of the request left (DNS, refused, connect timeout, TLS handshake or
  certificate): retrying cannot send the message twice;
- `ExchangeFailed`: the request may have reached the server (reset, timeout, EOF or a malformed or
  oversized answer after sending): the outcome is unknown, and a blind retry could send it twice.

urllib3 parses the answers (status line, headers, Content-Length, chunked, read-to-close, interim
1xx) and notices idle pooled connections the server has closed (or left bytes on) before reusing
them; its retries and redirects are off (the send loop retries and counts). Which urllib3 exception
means which outcome is decided in one table, `FAILURES`, with the reason for each row.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from contextlib import contextmanager

import urllib3
import urllib3.connection
from urllib3.exceptions import HTTPError, ProtocolError, ReadTimeoutError, SSLError
from urllib3.util import create_urllib3_context

# SES answers SendEmail in ~100 bytes and its errors in a few hundred: an answer larger than this is
# not SES, and is refused rather than read (a hostile or broken endpoint could send without end).
MAX_ANSWER_BYTES = 1 << 20


class ConnectFailed(Exception):
    """The request was not sent."""


class ExchangeFailed(Exception):
    """The request may have been received; its outcome is unknown."""


class _NotConnected(Exception):
    """A connection could not be opened (raised from `connect()`, before any byte of a request).

    Why a marker of our own: urllib3 raises the same `SSLError` for a failed handshake (nothing
    sent) and for a TLS alert while reading the answer (sent: in TLS 1.3 a server's rejection of the
    client arrives after our request), and a plain-HTTP connection is opened lazily inside the
    request. Only `connect()` knows that nothing has been written yet. Not a subclass of anything
    urllib3 catches, so it reaches the caller unchanged (urllib3 still discards the connection)."""


@contextmanager
def _opening():
    try:
        yield
    except Exception as exc:
        raise _NotConnected(f"{type(exc).__name__}: {exc}") from exc


# Named as urllib3's own: urllib3's connect errors print the class name
# ("HTTPConnection(host=...)").
class HTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        with _opening():
            super().connect()


class HTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        with _opening():
            super().connect()


def _what(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# (exception, outcome, what the operator reads): the first row the exception is an instance of
# decides. Order matters: urllib3's ReadTimeoutError and SSLError are HTTPErrors too.
FAILURES: tuple[
    tuple[
        type[BaseException] | tuple[type[BaseException], ...],
        type[Exception],
        Callable[[BaseException, float], str],
    ],
    ...,
] = (
    # Raised by our connect(): DNS, refused, connect timeout, TLS handshake, untrusted certificate.
    (_NotConnected, ConnectFailed, lambda exc, timeout: str(exc)),
    # The request was written (a connect timeout would be _NotConnected); no answer came in time.
    (
        ReadTimeoutError,
        ExchangeFailed,
        lambda exc, timeout: f"Read timeout: no answer within {timeout:g} s",
    ),
    # Reset, EOF before or inside the answer, a body shorter than its Content-Length, a status line
    # or
    # header that is not HTTP, too many or too long header lines (urllib3 wraps http.client's
    # errors).
    (ProtocolError, ExchangeFailed, lambda exc, timeout: _what(exc)),
    # TLS failed after the handshake (an alert or bad record while the answer was read).
    (SSLError, ExchangeFailed, lambda exc, timeout: _what(exc)),
    # Any other urllib3 error once connected (it cannot have failed before: that is _NotConnected).
    (HTTPError, ExchangeFailed, lambda exc, timeout: _what(exc)),
    # What urllib3 might leave unwrapped from http.client or the socket once connected.
    ((http.client.HTTPException, OSError), ExchangeFailed, lambda exc, timeout: _what(exc)),
)


def classify(exc: BaseException, read_timeout: float) -> Exception:
    """The ConnectFailed or ExchangeFailed a failed exchange means (see FAILURES)."""
    for kinds, outcome, text in FAILURES:
        if isinstance(exc, kinds):
            return outcome(text(exc, read_timeout))
    raise exc  # not a failure of the exchange: a bug, let it show


class OriginPool:
    """POSTs to one origin over at most `maxsize` idle keep-alive connections (more are opened when
    more calls are in flight, and closed after use). Thread-safe. TLS is always verified
    (certificate and host name), against the CA bundle file `ca_certs` (None: the system's); OSError
    if it cannot be loaded."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        *,
        connect_timeout: float,
        read_timeout: float,
        maxsize: int,
        ca_certs: str | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ):
        options = dict(
            port=port,
            maxsize=maxsize,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        )
        if scheme == "https":
            # urllib3's TLS defaults, as botocore uses them, with the CA bundle loaded once here
            # rather than
            # on every new connection: a missing or unreadable bundle raises OSError now, not on
            # each call.
            context = create_urllib3_context()
            if ca_certs:
                context.load_verify_locations(cafile=ca_certs)
            else:
                context.load_default_certs()
            self._pool = urllib3.HTTPSConnectionPool(
                host, cert_reqs="CERT_REQUIRED", ssl_context=context, **options
            )
            self._pool.ConnectionCls = HTTPSConnection
        elif scheme == "http":
            self._pool = urllib3.HTTPConnectionPool(host, **options)
            self._pool.ConnectionCls = HTTPConnection
        else:
            raise ValueError(f"not an http(s) scheme: {scheme!r}")
        self.max_answer_bytes, self.read_timeout = max_answer_bytes, read_timeout

    def post(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, urllib3.HTTPHeaderDict, bytes]:
        """(status, headers (case-insensitive), body); raises ConnectFailed or ExchangeFailed."""
        try:
            answer = self._pool.urlopen(
                "POST",
                path,
                body=body,
                headers=headers,
                redirect=False,
                preload_content=False,
                decode_content=False,
            )
        except Exception as exc:
            raise classify(exc, self.read_timeout) from exc
        try:
            return answer.status, answer.headers, self._read(answer)
        except ExchangeFailed:
            answer.close()  # the connection is in the middle of an answer: never reuse it
            raise
        except Exception as exc:
            answer.close()
            raise classify(exc, self.read_timeout) from exc
        finally:
            answer.release_conn()

    def _read(self, answer: urllib3.BaseHTTPResponse) -> bytes:
        limit = self.max_answer_bytes
        announced = answer.length_remaining  # None when chunked or read to close
        if announced is not None and announced > limit:
            raise ExchangeFailed(
                f"answer larger than {_size(limit)} (Content-Length {announced}): refused unread"
            )
        # Read until urllib3 reports the end (b""): that last read is where it checks that the body
        # was
        # as long as announced. decode_content off: a compressed answer is not inflated (no zip
        # bomb).
        pieces, size = [], 0
        while piece := answer.read(limit + 1 - size, decode_content=False):
            pieces.append(piece)
            size += len(piece)
            if size > limit:
                raise ExchangeFailed(
                    f"answer larger than {_size(limit)}: refused after the first {_size(limit)}"
                )
        return b"".join(pieces)

    def close(self) -> None:
        self._pool.close()


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n} bytes"
