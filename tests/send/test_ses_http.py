"""The lean SES path's HTTP exchange, through `SesTransport.send`, against scripted endpoints on
127.0.0.1 that answer as a broken or hostile server would: each outcome must be classified right
(not sent: retry; may have been received: unknown) and the next call must get its own answer."""

from __future__ import annotations

import datetime as dt
import socket
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailer.errors import OutcomeUnknownError, RetryableError, ThrottledError
from mailer.transports.base import OutgoingMessage
from mailer.transports.ses import SesTransport
from tests.send.conftest import ISSUE
from tests.send.helpers import mailer_env, run
from tests.send.scripted_http import (
    ScriptedServer,
    corrupt_tls_record,
    endless,
    ok,
    reset,
    silent,
    then_close,
)

MESSAGE = OutgoingMessage(
    delivery_id=7,
    send_id=3,
    recipient="ada@example.com",
    raw=b"Subject: hi\r\n\r\nbody\r\n",
    batch="b",
    tags={"send_id": "3"},
)


@pytest.fixture
def serve():
    """serve(script, tls=None) -> (server, lean SES transport pointed at it); both closed
    afterwards."""
    opened = []

    def start(script, tls=None, **transport_options):
        server = ScriptedServer(script, tls=tls)
        transport = SesTransport(endpoint_url=server.url, **transport_options)
        assert transport.lean is not None
        opened.append((server, transport))
        return server, transport

    yield start
    for server, transport in opened:
        transport.close()
        server.close()


def own_answers(n: int) -> bytes:
    return ok(f"m-{n}")


def test_keep_alive_answers_reuse_one_connection(serve):
    server, transport = serve(own_answers)
    assert [transport.send(MESSAGE) for _ in range(3)] == ["m-1", "m-2", "m-3"]
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /v2/email/outbound-emails HTTP/1.1\r\n")


def test_extra_bytes_after_an_answer_never_become_the_next_answer(serve):
    # The answer and a stray second one arrive in the same TCP segment: the next call must still get
    # the answer to its own request, never the leftover (that would record m-2 as "stale").
    server, transport = serve(lambda n: ok("m-1") + ok("stale") if n == 1 else own_answers(n))
    assert transport.send(MESSAGE) == "m-1"
    assert transport.send(MESSAGE) == "m-2"
    assert transport.send(MESSAGE) == "m-3"


def test_chunked_interim_and_close_delimited_answers_are_read_whole(serve):
    answers = {
        1: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4;ext=1\r\n{"Me\r\nA\r\nssageId":"\r\n3\r\nc"}\r\n0\r\nX-Trailer: t\r\n\r\n',
        2: b"HTTP/1.1 400 Bad Request\r\nx-amzn-ErrorType: MessageRejected:http://x\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
        3: b'HTTP/1.0 200 OK\r\n\r\n{"MessageId":"until-the-end"}',
    }
    server, transport = serve(answers.get)
    assert transport.send(MESSAGE) == "c"
    with pytest.raises(Exception, match="SES MessageRejected"):
        transport.send(MESSAGE)
    assert transport.send(MESSAGE) == "until-the-end"
    assert server.connections == 2  # 'Connection: close' ended the first connection


def test_an_idle_connection_the_server_closed_is_replaced_not_failed(serve):
    # SES closes idle keep-alive connections: the next call must open a new one, not report
    # "unknown".
    server, transport = serve(lambda n: then_close(ok("m-1")) if n == 1 else own_answers(n))
    assert transport.send(MESSAGE) == "m-1"
    assert server.closed.wait(5)
    assert transport.send(MESSAGE) == "m-2"
    assert server.connections == 2 and len(server.requests) == 2


def test_a_content_length_longer_than_the_body_then_close_is_unknown(serve):
    short = b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"MessageId":"m-1"}'
    server, transport = serve(lambda n: then_close(short) if n == 1 else own_answers(n))
    with pytest.raises(OutcomeUnknownError, match="after the request was sent"):
        transport.send(MESSAGE)
    assert transport.send(MESSAGE) == "m-2"


def test_a_connection_closed_after_the_request_is_unknown(serve):
    server, transport = serve(lambda n: None if n == 1 else own_answers(n))
    with pytest.raises(OutcomeUnknownError, match="after the request was sent"):
        transport.send(MESSAGE)
    assert len(server.requests) == 1  # it was received: "not sent" would send it twice
    assert transport.send(MESSAGE) == "m-2"


def test_a_reset_after_the_request_is_unknown(serve):
    server, transport = serve(lambda n: reset if n == 1 else own_answers(n))
    with pytest.raises(OutcomeUnknownError, match="after the request was sent"):
        transport.send(MESSAGE)
    assert len(server.requests) == 1
    assert transport.send(MESSAGE) == "m-2"


def test_no_answer_within_the_read_timeout_is_unknown(serve):
    server, transport = serve(lambda n: silent(2.0) if n == 1 else own_answers(n), read_timeout=0.3)
    with pytest.raises(OutcomeUnknownError, match="Read timeout: no answer within 0.3 s"):
        transport.send(MESSAGE)
    assert transport.send(MESSAGE) == "m-2"


def test_a_garbage_answer_is_unknown(serve):
    server, transport = serve(
        lambda n: b"220 smtp.example ESMTP ready\r\n\r\n" if n == 1 else own_answers(n)
    )
    with pytest.raises(OutcomeUnknownError, match="after the request was sent"):
        transport.send(MESSAGE)
    assert transport.send(MESSAGE) == "m-2"


@pytest.mark.parametrize("content_length", ["99999999999999999999999999", "52428800"])
def test_an_announced_body_over_the_limit_is_refused_unread(serve, content_length):
    # A 10^26-byte length overflowed the old reader (an uncaught OverflowError); 50 MB would be read
    # whole. SES answers SendEmail in ~100 bytes: anything over the limit is refused, outcome
    # unknown.
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {content_length}\r\n\r\n".encode()
    server, transport = serve(
        lambda n: endless(head, b"x" * 65536, limit=52428800) if n == 1 else own_answers(n)
    )
    with pytest.raises(OutcomeUnknownError, match="answer larger than 1 MiB"):
        transport.send(MESSAGE)
    assert transport.send(MESSAGE) == "m-2"


def test_an_endless_chunked_body_is_refused_at_the_limit(serve):
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
    server, transport = serve(lambda n: endless(head, chunk) if n == 1 else own_answers(n))
    with pytest.raises(OutcomeUnknownError, match="answer larger than 1 MiB"):
        transport.send(MESSAGE)
    assert transport.send(MESSAGE) == "m-2"


def test_an_overflowing_chunk_size_is_unknown_not_a_crash(serve):
    bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\nxx"
    server, transport = serve(lambda n: then_close(bad) if n == 1 else own_answers(n))
    with pytest.raises(OutcomeUnknownError, match="after the request was sent"):
        transport.send(MESSAGE)
    assert transport.send(MESSAGE) == "m-2"


@pytest.mark.parametrize(
    "piece",
    [b"X-Filler: " + b"a" * 1000 + b"\r\n", b"a" * 65536],
    ids=["endless-header-lines", "endless-header-line"],
)
def test_endless_headers_are_unknown_not_read_without_bound(serve, piece):
    server, transport = serve(
        lambda n: endless(b"HTTP/1.1 200 OK\r\n", piece) if n == 1 else own_answers(n)
    )
    with pytest.raises(OutcomeUnknownError, match="after the request was sent"):
        transport.send(MESSAGE)
    assert transport.send(MESSAGE) == "m-2"


def test_a_refused_connection_is_retryable_nothing_was_sent():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there any more
    transport = SesTransport(endpoint_url=f"http://127.0.0.1:{port}")
    with pytest.raises(
        RetryableError, match=f"SES endpoint unreachable: http://127.0.0.1:{port}/"
    ) as error:
        transport.send(MESSAGE)
    assert not isinstance(error.value, ThrottledError)


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory):
    """A self-signed certificate for 'localhost': (server context, path of the certificate file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    return server_context, str(cert_file)


def test_tls_with_an_untrusted_certificate_is_retryable_nothing_was_sent(
    serve, tls_pair, monkeypatch
):
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    server, transport = serve(own_answers, tls=tls_pair[0])
    with pytest.raises(
        RetryableError, match="SES endpoint unreachable: .*CERTIFICATE_VERIFY_FAILED"
    ):
        transport.send(MESSAGE)
    assert server.requests == []  # the refused handshake sent nothing


def test_tls_trusts_the_aws_ca_bundle_as_boto3_does(serve, tls_pair, monkeypatch):
    monkeypatch.setenv("AWS_CA_BUNDLE", tls_pair[1])
    server, transport = serve(own_answers, tls=tls_pair[0])
    assert [transport.send(MESSAGE) for _ in range(2)] == ["m-1", "m-2"]
    assert server.connections == 1


def test_a_tls_failure_after_the_request_is_unknown_not_retried(serve, tls_pair, monkeypatch):
    # The handshake succeeded and the request went out; a TLS error while reading the answer says
    # nothing about whether SES took the message (botocore would call any SSLError "not sent").
    monkeypatch.setenv("AWS_CA_BUNDLE", tls_pair[1])
    server, transport = serve(
        lambda n: corrupt_tls_record if n == 1 else own_answers(n), tls=tls_pair[0]
    )
    with pytest.raises(OutcomeUnknownError, match="after the request was sent: SSLError"):
        transport.send(MESSAGE)
    assert len(server.requests) == 1
    assert transport.send(MESSAGE) == "m-2"


def test_an_unreadable_aws_ca_bundle_is_one_error_naming_it(
    database_url, engine, sample_list, tmp_path
):
    # An operator's typo in AWS_CA_BUNDLE: the send must not start (every call would fail its
    # handshake).
    env = mailer_env(
        database_url, "https://127.0.0.1:9", AWS_CA_BUNDLE=str(tmp_path / "no-such-ca.pem")
    )
    result = run(env, "send", "--issue", ISSUE, "--yes")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "AWS_CA_BUNDLE" in result.stderr and "no-such-ca.pem" in result.stderr, result.stderr
