"""http1.Http1Pool against scripted servers on 127.0.0.1: body framings, keep-alive and its limits,
the two failure kinds (not sent / maybe received), and TLS verification."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailer.transports.http1 import ConnectFailed, ExchangeFailed, Http1Pool


class ScriptedServer:
    """Accepts connections; for each request read, sends `answer(n)` (n counts requests overall).
    `answer` may return None to close the connection without answering."""

    def __init__(self, answer, tls: ssl.SSLContext | None = None, close_after: set[int] = frozenset()):
        self.answer, self.tls, self.close_after = answer, tls, close_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        try:
            if self.tls:
                sock = self.tls.wrap_socket(sock, server_side=True)
            reader = sock.makefile("rb")
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                self.requests.append(head + reader.read(length))
                answer = self.answer(len(self.requests))
                if answer is None:
                    return
                sock.sendall(answer)
                closing = b"connection: close" in answer.lower() or answer.startswith(b"HTTP/1.0")
                if closing or len(self.requests) in self.close_after:
                    return
        except (OSError, ssl.SSLError):
            pass
        finally:
            sock.close()

    def close(self):
        self.listener.close()


def ok(body: bytes = b'{"MessageId":"m"}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body


def pool_for(server: ScriptedServer, scheme: str = "http", **kwargs) -> Http1Pool:
    options = dict(connect_timeout=2.0, read_timeout=2.0, maxsize=4) | kwargs
    return Http1Pool(scheme, "localhost" if scheme == "https" else "127.0.0.1", server.port, **options)


HEADERS = b"Host: test\r\nContent-Type: application/json\r\n"


def test_content_length_answers_reuse_one_connection():
    server = ScriptedServer(lambda n: ok(f'{{"n":{n}}}'.encode()))
    pool = pool_for(server)
    answers = [pool.post("/v2/email/outbound-emails", HEADERS, b'{"x":1}') for _ in range(3)]
    assert [a[2] for a in answers] == [b'{"n":1}', b'{"n":2}', b'{"n":3}']
    assert answers[0][0] == 200 and answers[0][1]["content-length"] == "7"
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /v2/email/outbound-emails HTTP/1.1\r\nHost: test\r\n")
    assert server.requests[0].endswith(b"Content-Length: 7\r\n\r\n{\"x\":1}")


def test_chunked_interim_and_close_delimited_answers():
    answers = {
        1: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4;ext=1\r\n{\"Me\r\nA\r\nssageId\":\"\r\n3\r\nc\"}\r\n0\r\nX-Trailer: t\r\n\r\n",
        2: b"HTTP/1.1 400 Bad Request\r\nx-amzn-ErrorType: MessageRejected:http://x\r\nContent-Length: 2\r\n"
           b"Connection: close\r\n\r\n{}",
        3: b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
    }
    server = ScriptedServer(lambda n: answers.get(n))
    pool = pool_for(server)
    assert pool.post("/", HEADERS, b"a") == (200, {"transfer-encoding": "chunked"}, b'{"MessageId":"c"}')
    status, headers, _ = pool.post("/", HEADERS, b"b")
    assert status == 400 and headers["x-amzn-errortype"].startswith("MessageRejected")
    assert pool.post("/", HEADERS, b"c")[2] == b"until the end"
    assert server.connections == 2  # 'Connection: close' ended the first connection


def test_an_idle_connection_the_server_closed_is_replaced_not_failed():
    # SES closes idle keep-alive connections: the pooled one reads EOF before it is used again
    server = ScriptedServer(lambda n: ok(), close_after={1})
    pool = pool_for(server)
    assert pool.post("/", HEADERS, b"1")[0] == 200
    idle = pool._idle[-1]
    deadline = time.monotonic() + 2
    while not idle.dropped() and time.monotonic() < deadline:  # the server's FIN is on its way
        time.sleep(0.01)
    assert pool.post("/", HEADERS, b"2")[0] == 200  # a fresh connection, no ExchangeFailed
    assert server.connections == 2 and len(server.requests) == 2


def test_a_connection_closed_after_the_request_is_an_exchange_failure():
    server = ScriptedServer(lambda n: None)
    with pytest.raises(ExchangeFailed, match="closed before a complete response"):
        pool_for(server).post("/", HEADERS, b"x")
    assert len(server.requests) == 1  # it was received: the caller must not call it "not sent"


def test_a_truncated_body_and_a_garbage_answer_are_exchange_failures():
    bodies = {1: b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nConnection: close\r\n\r\nshort",
              2: b"SMTP ready\r\n\r\n"}
    server = ScriptedServer(lambda n: bodies[n])
    pool = pool_for(server)
    with pytest.raises(ExchangeFailed, match="inside the response body"):
        pool.post("/", HEADERS, b"x")
    with pytest.raises(ExchangeFailed, match="not an HTTP status line"):
        pool.post("/", HEADERS, b"y")


def test_no_answer_in_time_is_a_read_timeout():
    server = ScriptedServer(lambda n: (threading.Event().wait(1.0), ok())[1])
    with pytest.raises(ExchangeFailed, match="Read timeout: no answer within 0.2 s"):
        pool_for(server, read_timeout=0.2).post("/", HEADERS, b"x")


def test_refused_connection_is_a_connect_failure():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    pool = Http1Pool("http", "127.0.0.1", port, connect_timeout=1.0, read_timeout=1.0, maxsize=1)
    with pytest.raises(ConnectFailed, match="cannot connect"):
        pool.post("/", HEADERS, b"x")


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory):
    """A self-signed certificate for 'localhost': (server context, path of the CA file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    return server_context, str(cert_file)


def test_tls_with_the_right_ca_works_and_with_another_it_is_not_sent(tls_pair):
    server_context, ca_file = tls_pair
    server = ScriptedServer(lambda n: ok(), tls=server_context)
    trusted = pool_for(server, "https", ssl_context=ssl.create_default_context(cafile=ca_file))
    assert trusted.post("/", HEADERS, b"x")[0] == 200
    untrusted = pool_for(server, "https", ssl_context=ssl.create_default_context())
    with pytest.raises(ConnectFailed, match="TLS with localhost"):
        untrusted.post("/", HEADERS, b"y")
    assert len(server.requests) == 1  # the refused handshake sent nothing
