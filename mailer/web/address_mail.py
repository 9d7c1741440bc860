"""The mail that asks a new address to confirm an address change (ARCHITECTURE.md, "Preferences"),
sent by the web app's sender thread (outbound.py) like the confirmation mail of a subscription.

It names neither the old address nor the person's name: whoever typed the new address could be
anyone holding a manage link, and the mail goes to an address of their choice, so it carries our
fixed words and the link only (confirm_mail.py gives the same reason).
"""

from __future__ import annotations

import html
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from mailer.content.lists import ListDefinition
from mailer.send.message import POLICY
from mailer.store.models import utcnow
from mailer.transports import OutgoingMessage
from mailer.web.confirm_mail import QP_POLICY

TEXT = """Hello,

someone asked for {list_name} to come to this address from now on, instead of the address it
goes to now. To confirm, open this link and press the button:

    {url}

The link works for 2 days. If you did not ask for this, ignore this mail: nothing changes.

{postal}
"""

HTML = """<!doctype html><html lang="en"><body style="font-family:Georgia,serif;color:#1a1a1a">
<p>Hello,</p><p>someone asked for <strong>{list_name}</strong> to come to this address from now
on, instead of the address it goes to now. To confirm, open this link and press the button:</p>
<p><a href="{url}"
style="background:#1a1a1a;color:#fff;padding:10px 18px;text-decoration:none"
>Use this address</a></p>
<p>The link works for 2 days. If you did not ask for this, ignore this mail: nothing changes.</p>
<p style="color:#666;font-size:12px">{postal}</p></body></html>"""


def build_address_mail(list_def: ListDefinition, email: str, url: str) -> bytes:
    msg = EmailMessage(policy=QP_POLICY)
    msg["From"] = list_def.from_header
    msg["To"] = Address(addr_spec=email)
    msg["Reply-To"] = list_def.reply_to
    msg["Subject"] = f"Confirm your new address for {list_def.name}"
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=list_def.domain)
    msg["Auto-Submitted"] = "auto-generated"
    values = {"list_name": list_def.name, "url": url, "postal": list_def.postal_address}
    msg.set_content(TEXT.format(**values), charset="utf-8", cte="quoted-printable")
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    msg.add_alternative(
        HTML.format(**escaped), subtype="html", charset="utf-8", cte="quoted-printable"
    )
    return msg.as_bytes(policy=POLICY)


def address_message(
    list_def: ListDefinition, email: str, url: str, request_id: int
) -> OutgoingMessage:
    """request_id (the ADDRESS_REQUEST consent event) names the message in the outbox."""
    return OutgoingMessage(
        delivery_id=request_id,
        send_id=0,
        recipient=email,
        raw=build_address_mail(list_def, email, url),
        batch=f"address-changes/{list_def.slug}",
        tags={"kind": "address-change"},
    )
