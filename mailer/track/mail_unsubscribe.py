"""Unsubscribe requests that arrive by mail: the `mailto:` half of our List-Unsubscribe header.

Every message carries `List-Unsubscribe: <https://…/unsubscribe/TOKEN>, <mailto:MAILBOX?subject=
unsubscribe%20TOKEN>` (RFC 2369). Clients without one-click support (and people who simply reply to
the unsubscribe mailbox) send a mail to MAILBOX whose subject is "unsubscribe TOKEN". The token is
the same signed unsubscribe token as in the link, so the mail proves as much as a click on it does:
the sender had the newsletter in hand. Nothing else in the mail is trusted; `From` is not checked
(mail forwarded by the reader unsubscribes the reader, exactly like the link in it).

Two ways for such mail to get here:
- SES receiving: a receipt rule for MAILBOX with an SNS action (encoding Base64) on a topic that
  `mailer events poll`'s queue or `POST /webhooks/ses` receives. SES publishes a notification with
  `notificationType: "Received"` and the whole message in `content` (up to 150 KB; longer mail needs
  an S3 action, which carries no content and is refused with a message saying so).
- any other MTA: pipe the message into `mailer unsubscribe-mail` (e.g. a Postfix alias
  `unsubscribe: "|mailer unsubscribe-mail"`).
"""

from __future__ import annotations

import base64
import binascii
import email
import json
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import BinaryIO

from sqlalchemy.orm import Session, sessionmaker

from mailer.audience import lifecycle
from mailer.config import Settings
from mailer.errors import ConfigError, MailerError
from mailer.store.db import transaction
from mailer.tokens import TokenError, read_token

# itsdangerous URL-safe timed tokens: payload.timestamp.signature, base64url characters.
_TOKEN = r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"
_REQUEST_RE = re.compile(r"\bunsubscribe(?:\s|%20)+(" + _TOKEN + ")", re.IGNORECASE)
_BODY_LIMIT = 64 * 1024  # a request is one line; never scan a huge attachment
MAX_REQUEST_MAIL = 10 * 1024 * 1024  # bytes an MTA may pipe in; a request is a few lines


@dataclass(frozen=True)
class MailRequest:
    outcome: str  # unsubscribed | already-unsubscribed | no-token | invalid-token | unknown-list
    subscriber_id: int | None = None
    list_slug: str | None = None

    @property
    def changed(self) -> bool:
        return self.outcome == "unsubscribed"

    def line(self) -> str:
        """What happened, for the operator (`mailer subscribers unsubscribe-mail`)."""
        what = _OUTCOME_LINES[self.outcome].format(list_slug=self.list_slug)
        if not self.subscriber_id:
            return what
        return f"subscriber {self.subscriber_id} from {self.list_slug}: {what}"


_OUTCOME_LINES = {
    "unsubscribed": "unsubscribed",
    "already-unsubscribed": "already unsubscribed: nothing changed",
    "no-token": "ignored: no unsubscribe token in the subject or body",
    "invalid-token": (
        "ignored: the unsubscribe token is not valid (tampered, or signed with another key)"
    ),
    "unknown-list": "ignored: list {list_slug!r} is not in this database",
}


def received_mail(message_json: str) -> bytes | None:
    """The raw message of an SES `Received` notification; None for any other notification."""
    try:
        data = json.loads(message_json)
    except ValueError:
        return None  # parse_ses_message reports it
    if not isinstance(data, dict) or data.get("notificationType") != "Received":
        return None
    content = data.get("content")
    if not isinstance(content, str):
        raise MailerError(
            "an SES Received notification without content: give the receipt rule an SNS "
            "action (encoding Base64), not an S3 action, for the unsubscribe mailbox"
        )
    action = (data.get("receipt") or {}).get("action") or {}
    if str(action.get("encoding", "")).upper() == "BASE64":
        try:
            return base64.b64decode(content, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise MailerError(
                f"an SES Received notification with bad Base64 content: {exc}"
            ) from None
    return content.encode("utf-8", "surrogateescape")


def find_token(msg: EmailMessage) -> str | None:
    """The unsubscribe token of a request mail: in the subject as the mailto URL put it (also under
    "Re:" or an encoded-word), else in the first plain-text lines of the body."""
    match = _REQUEST_RE.search(str(msg.get("Subject", "")))
    if match:
        return match.group(1)
    body = _plain_text(msg)
    match = _REQUEST_RE.search(body[:_BODY_LIMIT]) if body else None
    return match.group(1) if match else None


def _plain_text(msg: EmailMessage) -> str:
    try:
        part = msg.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""
    except (LookupError, ValueError, AttributeError):  # broken charset or MIME: no body to read
        return ""


class MailUnsubscriber:
    """Applies request mails; callable as `inbound(session, raw)` by `mailer.track.record`."""

    def __init__(self, secret_key: str, old_keys: tuple[str, ...] = ()):
        self.secret_key = secret_key
        self.old_keys = old_keys

    def __call__(self, session: Session, raw: bytes) -> MailRequest:
        msg = email.message_from_bytes(raw, policy=default_policy)
        token = find_token(msg)
        if token is None:
            return MailRequest("no-token")
        try:
            data = read_token(self.secret_key, "unsubscribe", token, old_keys=self.old_keys)
        except TokenError:
            return MailRequest("invalid-token")
        list_id = lifecycle.list_id_of(session, data.list_slug)
        if list_id is None:
            return MailRequest("unknown-list", data.subscriber_id, data.list_slug)
        visitor = lifecycle.Visitor(source="mailto")
        left = lifecycle.unsubscribe(
            session, data.subscriber_id, [list_id], visitor, detail=_detail(msg)
        )
        return MailRequest(
            "unsubscribed" if left else "already-unsubscribed", data.subscriber_id, data.list_slug
        )


def _detail(msg: EmailMessage) -> str:
    value = msg.get("Message-ID")
    return f"request mail {str(value)[:200]}" if value else "request mail"


def unsubscriber_for(settings: Settings) -> MailUnsubscriber | None:
    """The handler for a process that receives SES notifications; None without a secret key (a
    request mail then stays on the queue, and `record_notification` says why)."""
    try:
        return MailUnsubscriber(settings.require_secret_key(), settings.old_secret_keys)
    except ConfigError:
        return None


def read_request_mail(stream: BinaryIO) -> bytes:
    """The mail an MTA pipes in; a MailerError naming the file when it is over MAX_REQUEST_MAIL."""
    raw = stream.read(MAX_REQUEST_MAIL + 1)
    if len(raw) > MAX_REQUEST_MAIL:
        name = getattr(stream, "name", "-")
        raise MailerError(
            f"{name}: over {MAX_REQUEST_MAIL // 1024 // 1024} MB; "
            "an unsubscribe request is a few lines"
        )
    return raw


def apply_request_mail(
    factory: sessionmaker[Session], settings: Settings, raw: bytes
) -> MailRequest:
    """One request mail as an MTA pipes it in (`mailer subscribers unsubscribe-mail`), applied in
    its own transaction. A ConfigError without MAILER_SECRET_KEY."""
    unsubscriber = MailUnsubscriber(settings.require_secret_key(), settings.old_secret_keys)
    with transaction(factory) as session:
        return unsubscriber(session, raw)
