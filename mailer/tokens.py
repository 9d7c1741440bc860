"""Signed tokens for confirm / unsubscribe / manage links.

HMAC (itsdangerous) with MAILER_SECRET_KEY, scoped by purpose (the salt) and carrying the list slug,
verified in constant time. Keys in MAILER_OLD_SECRET_KEYS still verify, so a key can be rotated
without breaking links already in inboxes.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

PURPOSES = ("confirm", "unsubscribe", "manage")
CONFIRM_MAX_AGE = 7 * 24 * 3600  # a confirmation link works for 7 days
# An expired confirmation link may still ask for a new mail, but not forever.
RESEND_MAX_AGE = 90 * 24 * 3600


class TokenError(ValueError):
    """Tampered, forged, wrong purpose, or expired. The web layer shows a page that reveals nothing."""

    def __init__(self, message: str, expired: bool = False):
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class TokenData:
    subscriber_id: int
    list_slug: str


def _serializer(secret_key: str, old_keys: tuple[str, ...], purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    # itsdangerous signs with the last key and verifies with any of them.
    return URLSafeTimedSerializer([*old_keys, secret_key], salt=f"mailer.{purpose}")


def make_token(secret_key: str, purpose: str, subscriber_id: int, list_slug: str,
               old_keys: tuple[str, ...] = ()) -> str:
    return _serializer(secret_key, old_keys, purpose).dumps([subscriber_id, list_slug])


def read_token(secret_key: str, purpose: str, token: str, max_age: int | None = None,
               old_keys: tuple[str, ...] = ()) -> TokenData:
    try:
        data = _serializer(secret_key, old_keys, purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise TokenError("link expired", expired=True) from None
    except BadData:  # bad signature, bad base64, bad JSON: all the same to the visitor
        raise TokenError("invalid link") from None
    if not (isinstance(data, list) and len(data) == 2 and type(data[0]) is int and isinstance(data[1], str)):
        raise TokenError("invalid link")
    return TokenData(subscriber_id=data[0], list_slug=data[1])
