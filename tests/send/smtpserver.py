"""A local aiosmtpd server that says no: scripted replies at MAIL, RCPT and after the message's
final dot (DATA), 421 followed by a closed connection, connections dropped without a reply, STARTTLS
with a self-signed certificate and AUTH. It records which messages it accepted (answered 250 after
DATA)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

DROP = "drop"  # close the connection without a reply


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class FaultySmtp:
    """`rcpt` / `data`: address -> replies, one used per transaction for that address (then 250);
    `mail`: the n-th MAIL command (1-based) -> a reply. A reply is an SMTP reply line or DROP; one
    starting with 421 closes the connection after it, as a server shutting down does."""

    mail: dict[int, str] = field(default_factory=dict)
    rcpt: dict[str, list[str]] = field(default_factory=dict)
    data: dict[str, list[str]] = field(default_factory=dict)
    accepted: list[tuple[str, str, bytes]] = field(
        default_factory=list
    )  # (address, message id, content)
    commands: Counter = field(default_factory=Counter)
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, over TLS)

    def __post_init__(self):
        self._lock = threading.Lock()

    @staticmethod
    async def _fault(server, reply: str):
        if reply == DROP:
            server.transport.abort()
            return "451 never seen"  # aiosmtpd writes nothing on an aborted transport
        if reply.startswith("421"):
            await server.push(reply)
            server.transport.abort()
            return reply
        return reply

    def _next(self, script: dict[str, list[str]], address: str) -> str | None:
        with self._lock:
            replies = script.get(address)
            return replies.pop(0) if replies else None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self._lock:
            self.commands["MAIL"] += 1
            reply = self.mail.get(self.commands["MAIL"])
        if reply:
            return await self._fault(server, reply)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self._next(self.rcpt, address)
        if reply:
            return await self._fault(server, reply)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self._next(self.data, envelope.rcpt_tos[0])
        if reply:
            return await self._fault(server, reply)
        message_id = uuid.uuid4().hex
        with self._lock:
            self.accepted.append((envelope.rcpt_tos[0], message_id, envelope.content))
        return f"250 Ok {message_id}"

    def accepted_addresses(self) -> Counter:
        return Counter(address for address, _, _ in self.accepted)

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        """aiosmtpd authenticator: user `sender`, password `s3cret`; records whether TLS was on."""
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret"
        with self._lock:
            # session.ssl: after STARTTLS; the transport's ssl_object: implicit TLS (smtps)
            over_tls = (
                session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
            )
            self.logins.append((auth_data.login.decode(), over_tls))
        return AuthResult(success=ok, handled=False)


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written to `tmp` (the test trusts it via
    SSL_CERT_FILE)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailer test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "smtp-cert.pem", tmp / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def start(
    handler: FaultySmtp,
    port: int | None = None,
    tls_cert: tuple[Path, Path] | None = None,
    auth: bool = False,
    auth_require_tls: bool = True,
) -> Controller:
    """The server on 127.0.0.1 (a given port, e.g. one a test first found closed). With `tls_cert`
    it offers STARTTLS; with `auth` it offers AUTH LOGIN/PLAIN (over TLS only, unless told
    otherwise)."""
    kwargs: dict = {}
    if tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls_cert)
        kwargs["tls_context"] = context
    if auth:
        kwargs.update(authenticator=handler.authenticate, auth_require_tls=auth_require_tls)
    controller = Controller(handler, hostname="127.0.0.1", port=port or free_port(), **kwargs)
    controller.start()
    return controller
