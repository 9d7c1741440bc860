"""Any SMTP server, Amazon SES's SMTP interface included. One connection per sending thread
(smtplib is not thread-safe), reopened when the server drops it between messages.

Every reply decides the row: 250 after the message is `sent`; 5xx `failed` (the server's words
kept); 4xx requeued with backoff by the send loop; 421, or a connection lost before the message's
final dot, means nothing was accepted, so the transaction is tried again once on a new connection; a
connection lost after the final dot is `unknown` (the server may have accepted it). After a refused
transaction the connection is reset (RSET) or dropped, so the next recipient starts clean."""

from __future__ import annotations

import ipaddress
import smtplib
import ssl
import threading
from dataclasses import replace

from mailer.config import Settings, SmtpTarget, parse_smtp_url
from mailer.errors import (
    ConfigError,
    ConnectionFailedError,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    SendPausedError,
    ThrottledError,
    TransportError,
)
from mailer.transports.base import AccountLimits, OutgoingMessage


def classify_reply(code: int, text: str) -> TransportError:
    """What an SMTP error reply means for the row; the message was not accepted in any case."""
    reason = f"SMTP {code} {text}"
    if (
        "daily message quota" in text.lower()
    ):  # SES SMTP: "454 Throttling failure: Daily message quota exceeded"
        return SendPausedError(reason)
    if code == 454 or "throttl" in text.lower():
        return ThrottledError(reason)
    if code in (530, 534, 535, 538):  # authentication: every message would fail the same way
        return SendPausedError(reason)
    if 400 <= code < 500:
        return RetryableError(reason)
    return PermanentError(reason)


class _KnowsFinalDot:
    """smtplib raises the same SMTPServerDisconnected whether the connection was lost before the
    message's final dot went out (the server cannot have accepted it: safe to retry) or after it (it
    may have: outcome unknown). smtplib.SMTP.data() sends the whole quoted message, final dot
    included, in one send() call of bytes (commands go as str), so this is where to tell them apart.
    """

    final_dot_sent = False

    def send(self, s):
        super().send(s)  # type: ignore[misc]
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.final_dot_sent = True


class _Smtp(_KnowsFinalDot, smtplib.SMTP):
    pass


class _SmtpSsl(_KnowsFinalDot, smtplib.SMTP_SSL):
    pass


class _NothingAccepted(Exception):
    """421 or a connection lost before the final dot: try the transaction on a new connection."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_tls_for_credentials(target: SmtpTarget, setting: str) -> SmtpTarget:
    """With SMTP AUTH the password must not cross the network in clear: smtps:// or STARTTLS
    (required, and made the default). Plain text only to a relay on this machine, and only when
    asked for with starttls=0."""
    if target.implicit_tls or target.starttls:
        return target
    if not target.starttls_given:
        return replace(target, starttls=True)
    if is_loopback(target.host):
        return target
    raise ConfigError(
        f"{setting}: starttls=0 would send MAILER_SMTP_USER's password in clear to {target.host}; "
        "remove starttls=0 (STARTTLS is required with a user) or use smtps://"
    )


class SmtpTransport:
    name = "smtp"
    paced = True

    def __init__(
        self,
        target: SmtpTarget,
        user: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
    ):
        self.target, self.user, self.password = target, user, password
        # The system's trust store (SSL_CERT_FILE / SSL_CERT_DIR are honoured) and hostname
        # checking.
        self.tls_context = tls_context or ssl.create_default_context()
        self.setting = f"MAILER_TRANSPORT={'smtps' if target.implicit_tls else 'smtp'}://{target.host}:{target.port}"
        self._local = threading.local()
        self._all: list[smtplib.SMTP] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport:
        try:
            target = parse_smtp_url(settings.transport)
        except ValueError as exc:
            raise ConfigError(f"MAILER_TRANSPORT={settings.transport!r}: {exc}") from exc
        if bool(settings.smtp_user) != bool(settings.smtp_password):
            raise ConfigError("MAILER_SMTP_USER and MAILER_SMTP_PASSWORD must be set together")
        if settings.smtp_user:
            target = require_tls_for_credentials(target, "MAILER_TRANSPORT")
        return cls(target, settings.smtp_user, settings.smtp_password)

    # -- the connection ---------------------------------------------------------------------------
    def _connect(self) -> smtplib.SMTP:
        t = self.target
        try:
            if t.implicit_tls:
                conn: smtplib.SMTP = _SmtpSsl(
                    t.host, t.port, timeout=t.timeout, context=self.tls_context
                )
            else:
                conn = _Smtp(t.host, t.port, timeout=t.timeout)
        except ssl.SSLCertVerificationError as exc:
            raise SendPausedError(self._untrusted(exc)) from exc
        except smtplib.SMTPConnectError as exc:  # a greeting other than 220, e.g. 421 or 554
            raise ConnectionFailedError(
                f"SMTP {t.host}:{t.port} refused the session: {exc.smtp_code} "
                f"{exc.smtp_error.decode(errors='replace')}"
            ) from exc
        except OSError as exc:  # refused, unreachable, timed out, closed before the greeting
            raise ConnectionFailedError(f"cannot connect to SMTP {t.host}:{t.port}: {exc}") from exc
        try:
            self._open_session(conn)
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self._all.append(conn)
        return conn

    def _open_session(self, conn: smtplib.SMTP) -> None:
        """EHLO, STARTTLS when asked for (never silently skipped), AUTH when a user is set."""
        t = self.target
        try:
            conn.ehlo_or_helo_if_needed()
            if t.starttls:
                if not conn.has_extn("starttls"):
                    raise SendPausedError(
                        f"{self.setting}: the server does not offer STARTTLS, so the connection "
                        "would not be "
                        "encrypted; use its submission port (587) or smtps:// (465)"
                        + (
                            ", or starttls=0 for a relay on this machine"
                            if is_loopback(t.host)
                            else ""
                        )
                    )
                conn.starttls(context=self.tls_context)
                conn.ehlo()
            if self.user:
                if not conn.has_extn("auth"):
                    raise SendPausedError(
                        f"{self.setting}: the server does not offer AUTH, but MAILER_SMTP_USER "
                        "is set; unset MAILER_SMTP_USER or use the server's submission port"
                    )
                conn.login(self.user, self.password or "")
        except ssl.SSLCertVerificationError as exc:
            raise SendPausedError(self._untrusted(exc)) from exc
        except smtplib.SMTPResponseException as exc:
            raise classify_reply(exc.smtp_code, exc.smtp_error.decode(errors="replace")) from exc
        except OSError as exc:  # dropped or timed out while setting up: nothing was handed over
            raise ConnectionFailedError(
                f"SMTP {t.host}:{t.port} closed the connection during setup: {exc}"
            ) from exc

    def _untrusted(self, exc: ssl.SSLCertVerificationError) -> str:
        return (
            f"{self.setting}: the server's TLS certificate is not trusted ({exc.verify_message}); "
            "fix the "
            "server's certificate or add its CA to the system trust store (or SSL_CERT_FILE)"
        )

    def _connection(self) -> smtplib.SMTP:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _discard(self, conn: smtplib.SMTP) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        try:
            conn.close()
        except OSError:
            pass

    def _reset(self, conn: smtplib.SMTP) -> None:
        """RSET after a refused transaction; a connection that cannot even do that is dropped."""
        try:
            code, _ = conn.rset()
        except OSError:
            code = 0
        if code != 250:
            self._discard(conn)

    # -- one message ------------------------------------------------------------------------------
    def send(self, message: OutgoingMessage) -> str:
        sender = self._sender(message)
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return self._transaction(conn, sender, message)
            except _NothingAccepted as exc:
                self._discard(conn)
                if attempt == 2:
                    raise RetryableError(f"{exc} (twice; nothing was accepted)") from exc
        raise AssertionError("unreachable")

    def _transaction(self, conn: smtplib.SMTP, sender: str, message: OutgoingMessage) -> str:
        conn.final_dot_sent = False  # type: ignore[attr-defined]
        try:
            code, text = conn.mail(sender)
            if code == 250:
                code, text = conn.rcpt(message.recipient)
            if code in (250, 251):
                code, text = conn.data(
                    message.raw
                )  # returns the reply to the final dot, whatever it is
        except smtplib.SMTPDataError as exc:  # the DATA command itself was refused (no 354)
            code, text = exc.smtp_code, exc.smtp_error
        except OSError as exc:  # SMTPServerDisconnected included: lost, reset or timed out
            if conn.final_dot_sent:  # type: ignore[attr-defined]
                self._discard(conn)
                raise OutcomeUnknownError(
                    f"SMTP connection lost after the message was sent, before the "
                    f"server's answer: {exc}"
                ) from exc
            raise _NothingAccepted(
                f"SMTP connection lost before the message was sent: {exc}"
            ) from exc
        reply = text.decode(errors="replace")
        if code == 250:
            # SES's SMTP interface answers "250 Ok <message id>"; other servers say what they like.
            return reply.removeprefix("Ok ").strip() or f"smtp:{message.delivery_id}"
        if code == 421:  # the server is closing the connection; the message was not accepted
            raise _NothingAccepted(f"SMTP {code} {reply}")
        self._reset(conn)
        raise classify_reply(code, reply)

    def _sender(self, message: OutgoingMessage) -> str:
        from email.parser import BytesHeaderParser
        from email.utils import parseaddr

        headers = BytesHeaderParser().parsebytes(message.raw)
        return parseaddr(headers.get("Return-Path") or headers.get("From", ""))[1]

    def was_sent(self, batch: str, delivery_id: int) -> bool | None:
        return None

    def limits(self) -> AccountLimits | None:
        return None

    def describe(self, batch: str) -> str:
        return f"SMTP {self.target.host}:{self.target.port}"

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.quit()
                except OSError:
                    pass
            self._all.clear()
