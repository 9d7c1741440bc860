"""RFC 5322 messages for one recipient: headers per DESIGN (Message section), text + HTML parts."""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from .addresses import clean_display_name
from .content.lists import ListDefinition
from .models import utcnow

# SMTP policy: CRLF line ends and folding at 78; max_line_length keeps every line within RFC 5322's 998.
POLICY = SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    email: str
    name: str
    unsubscribe_url: str
    manage_url: str
    unsubscribe_mailto: str


def message_id(send_id: int, delivery_id: int, domain: str) -> str:
    """Deterministic per delivery: a retried delivery carries the same Message-ID (receivers dedupe)."""
    return f"<mailer.{send_id}.{delivery_id}@{domain}>"


def build_message(*, subject: str, html: str, text: str, list_def: ListDefinition, send_id: int,
                  recipient: Recipient) -> bytes:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = list_def.from_header
    msg["To"] = Address(display_name=clean_display_name(recipient.name), addr_spec=recipient.email)
    msg["Reply-To"] = list_def.reply_to
    msg["Subject"] = clean_display_name(subject, limit=500)
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = message_id(send_id, recipient.delivery_id, list_def.domain)
    msg["List-Id"] = list_def.list_id
    msg["List-Unsubscribe"] = f"<{recipient.unsubscribe_url}>, <{recipient.unsubscribe_mailto}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # Feedback-ID (Gmail FBL): campaign:list:sender-type:sender, stable per send.
    msg["Feedback-ID"] = f"{send_id}:{list_def.slug}:newsletter:{list_def.domain}"
    msg["Precedence"] = "bulk"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg.as_bytes(policy=POLICY)
