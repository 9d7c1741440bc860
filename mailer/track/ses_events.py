"""Amazon SES notifications (the `Message` of an SNS envelope) as plain per-recipient events.

Two formats reach the same topic: identity notifications carry `notificationType`
(Bounce, Complaint, Delivery); configuration-set event publishing carries `eventType`
(Send, Delivery, Bounce, Complaint, Reject, DeliveryDelay, Rendering Failure, Open, Click,
Subscription). SES may add fields at any time, so unknown fields are ignored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from mailer.addresses import InvalidAddress, normalise_email
from mailer.errors import MailerError
from mailer.store.events import DEDUP_KEY_MAX
from mailer.store.models import EventKind

# Sent once, as plain text, when a configuration set's SNS destination is created.
VALIDATION_TEXT = "Successfully validated SNS topic for Amazon SES event publishing."
# Sent as JSON when an identity's notification topic is set; nothing to record.
_IGNORED_NOTIFICATIONS = frozenset({"AmazonSnsSubscriptionSucceeded"})

# SES's spelling (eventType / notificationType) -> ours.
_TYPE_NAMES = {
    "Bounce": EventKind.BOUNCE,
    "Complaint": EventKind.COMPLAINT,
    "Delivery": EventKind.DELIVERY,
    "Send": EventKind.SEND,
    "Reject": EventKind.REJECT,
    "DeliveryDelay": EventKind.DELIVERY_DELAY,
    "Rendering Failure": EventKind.RENDERING_FAILURE,
    "Open": EventKind.OPEN,
    "Click": EventKind.CLICK,
    "Subscription": EventKind.SUBSCRIPTION,
}
# One event of these kinds per (message, recipient): the SES message id identifies it, so the
# same event published through both formats (identity and configuration set) collapses too.
_ONCE_PER_MESSAGE = frozenset(
    {EventKind.DELIVERY, EventKind.SEND, EventKind.REJECT, EventKind.RENDERING_FAILURE}
)
_BOUNCE_TYPES = frozenset({"Permanent", "Transient", "Undetermined"})


class EventParseError(MailerError):
    """An SES notification that cannot be understood (left for the dead-letter queue)."""


@dataclass(frozen=True)
class SesEvent:
    # bounce | complaint | delivery | send | reject | delivery_delay | rendering_failure | ...
    event_type: str
    ses_message_id: str
    recipient: str | None
    occurred_at: dt.datetime | None
    dedup_key: (
        str  # kind:ident:recipient (what identifies the event; stored with the recipient hashed)
    )
    raw: str
    sns_message_id: str | None = None
    bounce_type: str | None = None  # Permanent | Transient | Undetermined
    bounce_subtype: str | None = None
    feedback_id: str | None = None
    complaint_feedback_type: str | None = None
    dedup_scope: str = ""  # kind:ident, the dedup key without its recipient
    delivery_id: int | None = None  # from the `delivery_id` message tag (event publishing only)
    send_id: int | None = None
    detail: str | None = None  # diagnostic code, SMTP response, reject reason


def parse_ses_message(message_json: str, sns_message_id: str | None = None) -> list[SesEvent]:
    """Events in one SES notification, one per recipient; [] for the validation messages."""
    if not isinstance(message_json, str):
        raise EventParseError(f"SES notification is not text: {type(message_json).__name__}")
    if message_json.strip() == VALIDATION_TEXT:
        return []
    try:
        data = json.loads(message_json)
    except ValueError:
        raise EventParseError(f"SES notification is not JSON: {message_json[:80]!r}") from None
    if not isinstance(data, dict):
        raise EventParseError("SES notification is not a JSON object")
    type_name = data.get("eventType", data.get("notificationType"))
    if type_name in _IGNORED_NOTIFICATIONS:
        return []
    if not isinstance(type_name, str) or not type_name:
        raise EventParseError("SES notification has neither eventType nor notificationType")
    return _events(_normalise_type(type_name), data, message_json, sns_message_id)


def _normalise_type(name: str) -> str:
    if name in _TYPE_NAMES:
        return _TYPE_NAMES[name]
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).replace(" ", "_").lower()


def _events(kind: str, data: dict, raw: str, sns_id: str | None) -> list[SesEvent]:
    mail = _object(data, "mail")
    ses_id = mail.get("messageId")
    if not isinstance(ses_id, str) or not ses_id:
        raise EventParseError(f"SES {kind} notification has no mail.messageId")
    detail_obj = _detail_object(kind, data)
    common = {
        "event_type": kind,
        "ses_message_id": _clip(ses_id, 200),
        "raw": raw,
        "sns_message_id": _clip(sns_id, 100),
        "occurred_at": _timestamp(detail_obj.get("timestamp") or mail.get("timestamp")),
        "feedback_id": _str(detail_obj.get("feedbackId")),
        "delivery_id": _tag_int(mail, "delivery_id"),
        "send_id": _tag_int(mail, "send_id"),
        **_kind_fields(kind, detail_obj),
    }
    ident = _dedup_ident(kind, common, detail_obj, sns_id)
    recipients = _recipients(kind, detail_obj, mail) or [(None, None)]
    return [
        SesEvent(
            recipient=address,
            dedup_key=_dedup_key(kind, ident, address),
            dedup_scope=f"{kind}:{ident}",
            **{**common, "detail": _clip(detail or common.get("detail"), 2000)},
        )
        for address, detail in recipients
    ]


def _detail_object(kind: str, data: dict) -> dict:
    # The object that details the event is named after its kind, but for these two.
    key = {EventKind.RENDERING_FAILURE: "failure", EventKind.DELIVERY_DELAY: "deliveryDelay"}.get(
        kind, kind
    )
    value = data.get(key)
    if value is None:
        if kind in (EventKind.BOUNCE, EventKind.COMPLAINT, EventKind.DELIVERY):
            raise EventParseError(f"SES {kind} notification has no '{key}' object")
        return {}
    if not isinstance(value, dict):
        raise EventParseError(f"SES {kind} notification: '{key}' is not an object")
    return value


def _kind_fields(kind: str, obj: dict) -> dict[str, Any]:
    if kind == EventKind.BOUNCE:
        bounce_type = obj.get("bounceType")
        return {
            "bounce_type": bounce_type if bounce_type in _BOUNCE_TYPES else "Undetermined",
            "bounce_subtype": _clip(_str(obj.get("bounceSubType")), 64),
        }
    if kind == EventKind.COMPLAINT:
        return {"complaint_feedback_type": _clip(_str(obj.get("complaintFeedbackType")), 64)}
    if kind == EventKind.DELIVERY:
        return {"detail": _str(obj.get("smtpResponse"))}
    if kind == EventKind.REJECT:
        return {"detail": _str(obj.get("reason"))}
    if kind == EventKind.RENDERING_FAILURE:
        return {"detail": _str(obj.get("errorMessage"))}
    if kind == EventKind.DELIVERY_DELAY:
        return {"detail": _str(obj.get("delayType"))}
    return {}


def _recipients(kind: str, obj: dict, mail: dict) -> list[tuple[str | None, str | None]]:
    """(address, per-recipient detail) for every recipient the event is about."""
    listed = {
        EventKind.BOUNCE: "bouncedRecipients",
        EventKind.COMPLAINT: "complainedRecipients",
        EventKind.DELIVERY_DELAY: "delayedRecipients",
    }.get(kind)
    if listed:
        entries = obj.get(listed) or []
        if not isinstance(entries, list):
            raise EventParseError(f"SES {kind} notification: '{listed}' is not a list")
        out = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise EventParseError(
                    f"SES {kind} notification: an entry of '{listed}' is not an object"
                )
            detail = _str(entry.get("diagnosticCode")) or _str(entry.get("status"))
            out.append((_address(entry.get("emailAddress")), detail))
        return _unique(out)
    source = obj.get("recipients") if kind == EventKind.DELIVERY else mail.get("destination")
    if source is None:
        return []
    if not isinstance(source, list):
        raise EventParseError(f"SES {kind} notification: the recipient list is not a list")
    return _unique([(_address(value), None) for value in source])


def _unique(pairs: list[tuple[str | None, str | None]]) -> list[tuple[str | None, str | None]]:
    seen: set[str | None] = set()
    out = []
    for address, detail in pairs:
        if address not in seen:
            seen.add(address)
            out.append((address, detail))
    return out


def _address(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    # emailAddress is the DSN's Final-Recipient and may come as "Name <addr>".
    _, addr = parseaddr(value)
    addr = (addr or value).strip()
    try:
        return normalise_email(addr)
    except InvalidAddress:
        return _clip(addr, 320)


def _dedup_ident(kind: str, common: dict, obj: dict, sns_id: str | None) -> str:
    if kind in (EventKind.BOUNCE, EventKind.COMPLAINT) and common["feedback_id"]:
        return common["feedback_id"]
    if kind in _ONCE_PER_MESSAGE:
        return common["ses_message_id"]
    if sns_id:
        return sns_id
    return f"{common['ses_message_id']}@{_str(obj.get('timestamp')) or '-'}"


def _dedup_key(kind: str, ident: str, recipient: str | None) -> str:
    key = f"{kind}:{ident}:{(recipient or '-').lower()}"
    if len(key) > DEDUP_KEY_MAX:
        key = f"{kind}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key


def _object(data: dict, key: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise EventParseError(f"SES notification has no '{key}' object")
    return value


def _tag_int(mail: dict, name: str) -> int | None:
    tags = mail.get("tags")
    if not isinstance(tags, dict):
        return None
    values = tags.get(name)
    value = values[0] if isinstance(values, list) and values else values
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value):
        return int(value)
    return None


def _timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value is not None else None
