"""Email address validation and normalisation (one place, used by imports, the web form and sends)."""

from __future__ import annotations

import hashlib

from email_validator import EmailNotValidError, validate_email


class InvalidAddress(ValueError):
    pass


def normalise_email(raw: str) -> str:
    """Syntax check, then: local part as written, domain lower-cased, IDN domain as punycode.

    Deliverability (DNS) is not checked: imports must not depend on the network.
    """
    candidate = raw.strip()
    if not candidate:
        raise InvalidAddress("empty address")
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return f"{result.local_part}@{result.ascii_domain.lower()}"


def clean_display_name(raw: str | None, limit: int = 200) -> str:
    """A name fit for a header or a greeting: no control characters (CR/LF/NUL), single spaces."""
    if not raw:
        return ""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in raw)
    return " ".join(cleaned.split())[:limit]


def address_hash(email: str, salt: str) -> str:
    """Salted SHA-256 of a normalised address: what a suppression keeps after erasure."""
    return hashlib.sha256(f"{salt}:{email.lower()}".encode()).hexdigest()
