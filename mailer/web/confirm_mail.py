"""The confirmation mail of double opt-in, built with the email package and sent through the
configured transport (the same one sends use), by the web app's sender thread (outbound.py).

Nothing the visitor typed goes into it except the address it is sent to: a name typed in the form
would let anyone put their text into a mail we send to an address of their choice (a spam relay).
The name is kept for the newsletter's greeting, which only goes out after the person confirmed.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from mailer.content.lists import ListDefinition
from mailer.send.message import POLICY
from mailer.store.models import utcnow
from mailer.transports import OutgoingMessage

# RFC 2045: encoded quoted-printable lines are at most 76 characters. The email package wraps a
# quoted-printable body at the policy's max_line_length, and the shared POLICY allows 998 (long
# headers); so the parts are encoded under this policy.
QP_POLICY = POLICY.clone(max_line_length=76)

TEXT = """Hello,

please confirm that you want to receive {list_name}:

    {url}

The link works for 7 days. If you did not ask for this, ignore this mail: you will get nothing else.

{postal}
"""

HTML = """<!doctype html><html lang="en"><body style="font-family:Georgia,serif;color:#1a1a1a">
<p>Hello,</p><p>please confirm that you want to receive <strong>{list_name}</strong>:</p>
<p><a href="{url}"
style="background:#1a1a1a;color:#fff;padding:10px 18px;text-decoration:none"
>Confirm my subscription</a></p>
<p>The link works for 7 days. If you did not ask for this, ignore this mail:
you will get nothing else.</p>
<p style="color:#666;font-size:12px">{postal}</p></body></html>"""


def build_confirmation(list_def: ListDefinition, email: str, url: str) -> bytes:
    import html

    msg = EmailMessage(policy=QP_POLICY)
    msg["From"] = list_def.from_header
    msg["To"] = Address(addr_spec=email)
    msg["Reply-To"] = list_def.reply_to
    msg["Subject"] = f"Confirm your subscription to {list_def.name}"
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=list_def.domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(
        TEXT.format(list_name=list_def.name, url=url, postal=list_def.postal_address),
        charset="utf-8",
        cte="quoted-printable",
    )
    esc = {
        "list_name": html.escape(list_def.name),
        "url": html.escape(url, quote=True),
        "postal": html.escape(list_def.postal_address),
    }
    msg.add_alternative(HTML.format(**esc), subtype="html", charset="utf-8", cte="quoted-printable")
    return msg.as_bytes(policy=POLICY)


def confirmation_message(
    list_def: ListDefinition, email: str, url: str, mail_id: int
) -> OutgoingMessage:
    """mail_id (the consent event's id) names the message in the outbox: unique per request."""
    return OutgoingMessage(
        delivery_id=mail_id,
        send_id=0,
        recipient=email,
        raw=build_confirmation(list_def, email, url),
        batch=f"confirmations/{list_def.slug}",
        tags={"kind": "confirmation"},
    )
