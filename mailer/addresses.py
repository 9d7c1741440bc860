"""Email address validation and normalisation (one place, used by imports, the web form and
sends)."""

from __future__ import annotations

import hashlib
import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email


class InvalidAddress(ValueError):
    pass


class UndeliverableAddress(InvalidAddress):
    """Valid syntax that no message of ours can carry; the reason is fit to show the person."""


# Amazon SES takes raw MIME without SMTPUTF8, and an ASCII-only message has no way to write such a
# local part (RFC 2047 words are not allowed in an addr-spec). A non-ASCII *domain* is fine:
# punycode.
NON_ASCII_LOCAL_PART = (
    "non-ASCII characters before the @ cannot be delivered by our mail provider; use an "
    "address with only ASCII letters, digits and . _ + - before the @"
)


def check_deliverable(address: str) -> None:
    """Raise UndeliverableAddress when a message cannot carry `address` (a non-ASCII local part)."""
    if not address.rpartition("@")[0].isascii():
        raise UndeliverableAddress(NON_ASCII_LOCAL_PART)


# Plain ASCII dot-atom addresses, the bulk of any list, are checked here in about a microsecond
# instead
# of ~100 us in email-validator. Anything this does not accept goes to email-validator; a test
# checks
# that both agree on every address this accepts. One pattern for the whole address: the domain is
# matched in either case (ASCII only) and lower-cased afterwards.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
# Possessive quantifiers and look-behinds instead of backtracking: labels end in a letter or digit,
# the TLD begins and ends with a letter.
_ADDRESS = re.compile(
    rf"({_ATOM}++(?:\.{_ATOM}++)*+)"
    r"@((?:[A-Za-z0-9][A-Za-z0-9-]*+(?<!-)\.)++[A-Za-z][A-Za-z0-9-]*+(?<=[A-Za-z]))"
).fullmatch
_SPECIAL_SUFFIXES = tuple("." + name for name in SPECIAL_USE_DOMAIN_NAMES)


def fast_normalise(candidate: str) -> str | None:
    """The normalised form of a stripped plain ASCII address, or None: then ask normalise_email."""
    match = _ADDRESS(candidate)
    if match is None or len(candidate) > 254:
        return None
    at = match.end(1)
    domain = match[2]
    if at > 64 or "--" in domain:
        return None
    lowered = domain.lower()
    if lowered.endswith(_SPECIAL_SUFFIXES):  # the domain has a dot: this covers the TLD
        return None
    if len(domain) > 63 and max(len(label) for label in domain.split(".")) > 63:
        return None
    return (
        candidate if lowered == domain else candidate[: at + 1] + lowered
    )  # most are lower-case already


def normalise_email(raw: str) -> str:
    """Syntax check, then: local part as written, domain lower-cased, IDN domain as punycode. A
    local part with non-ASCII characters is refused (UndeliverableAddress): valid, but we cannot
    send to it.

    Deliverability (DNS) is not checked: imports must not depend on the network.
    """
    candidate = raw.strip()
    if not candidate:
        raise InvalidAddress("empty address")
    fast = fast_normalise(candidate)
    if fast is not None:
        return fast
    if "@" in candidate:
        check_deliverable(candidate)
    try:
        result = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return f"{result.local_part}@{result.ascii_domain.lower()}"


def clean_display_name(raw: str | None, limit: int = 200) -> str:
    """A name fit for a header or a greeting: no control characters (CR/LF/NUL), single spaces."""
    if not raw:
        return ""
    # The common case, unchanged by the general rule below (a space is the only printable
    # whitespace).
    if raw.isprintable() and "  " not in raw and raw[0] != " " and raw[-1] != " ":
        return raw[:limit]
    cleaned = raw if raw.isprintable() else "".join(ch if ch.isprintable() else " " for ch in raw)
    return " ".join(cleaned.split())[:limit]


def email_key(address: str) -> str:
    """Who a normalised address is: the whole address lower-cased, local part too.

    RFC 5321 lets a server treat local parts case-sensitively, but Gmail, Outlook and virtually
    every provider do not, and people type their address in whatever case: ALAN@EXAMPLE.COM,
    Alan@Example.com and alan@example.com are one person. (Python's lower() is the case folding
    here: local parts are ASCII and the domain is punycode by the time an address is normalised.)
    Every lookup of a person, a suppression or an erased address goes through this key; the address
    itself is shown as first given.
    """
    return address.lower()


def address_hash(email: str, salt: str) -> str:
    """Salted SHA-256 of an address's key: what a suppression keeps after erasure."""
    return hashlib.sha256(f"{salt}:{email_key(email)}".encode()).hexdigest()
