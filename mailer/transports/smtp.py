"""Any SMTP server, Amazon SES's SMTP interface included. One connection per sending thread
(smtplib is not thread-safe), reopened when the server drops it between messages."""

from __future__ import annotations

import smtplib
import socket
import ssl
import threading

from ..config import Settings, SmtpTarget, parse_smtp_url
from ..errors import (
    ConfigError,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    SendPausedError,
    ThrottledError,
    TransportError,
)
from .base import AccountLimits, OutgoingMessage


def classify_reply(code: int, text: str) -> TransportError:
    """What an SMTP error reply means for the row; the message was not accepted in any case."""
    reason = f"SMTP {code}: {text}"
    if "daily message quota" in text.lower():  # SES SMTP: "454 Throttling failure: Daily message quota exceeded"
        return SendPausedError(reason)
    if code == 454 or "throttl" in text.lower():
        return ThrottledError(reason)
    if code in (530, 534, 535, 538):  # authentication: every message would fail the same way
        return SendPausedError(reason)
    if 400 <= code < 500:
        return RetryableError(reason)
    return PermanentError(reason)


class SmtpTransport:
    name = "smtp"
    paced = True

    def __init__(self, target: SmtpTarget, user: str | None = None, password: str | None = None):
        self.target, self.user, self.password = target, user, password
        self._local = threading.local()
        self._all: list[smtplib.SMTP] = []
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "SmtpTransport":
        try:
            target = parse_smtp_url(settings.transport)
        except ValueError as exc:
            raise ConfigError(f"MAILER_TRANSPORT={settings.transport!r}: {exc}") from exc
        if bool(settings.smtp_user) != bool(settings.smtp_password):
            raise ConfigError("MAILER_SMTP_USER and MAILER_SMTP_PASSWORD must be set together")
        return cls(target, settings.smtp_user, settings.smtp_password)

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        try:
            if t.implicit_tls:
                conn = smtplib.SMTP_SSL(t.host, t.port, timeout=t.timeout, context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(t.host, t.port, timeout=t.timeout)
                if t.starttls:
                    conn.starttls(context=ssl.create_default_context())
            conn.ehlo_or_helo_if_needed()
            if self.user:
                conn.login(self.user, self.password or "")
        except smtplib.SMTPResponseException as exc:
            raise classify_reply(exc.smtp_code, exc.smtp_error.decode(errors="replace")) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise RetryableError(f"cannot connect to SMTP {t.host}:{t.port}: {exc}") from exc
        with self._lock:
            self._all.append(conn)
        return conn

    def _envelope(self, message: OutgoingMessage) -> smtplib.SMTP:
        """MAIL FROM and RCPT TO on this thread's connection; a connection the server closed while idle
        is reopened once (nothing was accepted yet, so this is no blind retry)."""
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None) or self._connect()
            self._local.conn = conn
            try:
                code, text = conn.mail(self._sender(message))
                if code == 250:
                    code, text = conn.rcpt(message.recipient)
                if code not in (250, 251):
                    raise self._reset(conn, classify_reply(code, text.decode(errors="replace")))
                return conn
            except (OSError, smtplib.SMTPServerDisconnected) as exc:
                self._local.conn = None
                if attempt == 2:
                    raise RetryableError(f"SMTP connection lost before the message was sent: {exc}") from exc
        raise AssertionError("unreachable")

    def send(self, message: OutgoingMessage) -> str:
        conn = self._envelope(message)
        try:
            code, text = conn.data(message.raw)
        except smtplib.SMTPDataError as exc:
            raise classify_reply(exc.smtp_code, exc.smtp_error.decode(errors="replace")) from exc
        except (OSError, socket.timeout, smtplib.SMTPServerDisconnected) as exc:
            self._local.conn = None
            raise OutcomeUnknownError(f"SMTP connection lost while the message was being sent: {exc}") from exc
        # SES's SMTP interface answers "250 Ok <message id>"; other servers say what they like.
        return text.decode(errors="replace").removeprefix("Ok ").strip() or f"smtp:{message.delivery_id}"

    def _sender(self, message: OutgoingMessage) -> str:
        from email.parser import BytesHeaderParser
        from email.utils import parseaddr

        headers = BytesHeaderParser().parsebytes(message.raw)
        return parseaddr(headers.get("Return-Path") or headers.get("From", ""))[1]

    @staticmethod
    def _reset(conn: smtplib.SMTP, error: TransportError) -> TransportError:
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            pass
        return error

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
                except (OSError, smtplib.SMTPException):
                    pass
            self._all.clear()
