"""Signed tokens for confirm / unsubscribe / manage links, address changes (`AddressToken`) and
counted links (`ClickToken`).

HMAC (itsdangerous) with MAILER_SECRET_KEY, scoped by purpose (the salt) and carrying the list slug,
verified in constant time. Keys in MAILER_OLD_SECRET_KEYS still verify, so a key can be rotated
without breaking links already in inboxes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

PURPOSES = ("confirm", "unsubscribe", "manage")
# The subscriber of links that belong to nobody: `mailer send --to` test messages and the test link
# `mailer doctor` posts to one-click unsubscribe. No row has this id (ids start at 1), and the web
# app changes nothing for it (web/views.py), so such a link proves the route and the signing key and
# unsubscribes no one.
TEST_SUBSCRIBER_ID = 0
CONFIRM_MAX_AGE = 7 * 24 * 3600  # a confirmation link works for 7 days
# An expired confirmation link may still ask for a new mail, but not forever.
RESEND_MAX_AGE = 90 * 24 * 3600


class TokenError(ValueError):
    """Tampered, forged, wrong purpose, or expired. The web layer shows a page that reveals
    nothing."""

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


def make_token(
    secret_key: str,
    purpose: str,
    subscriber_id: int,
    list_slug: str,
    old_keys: tuple[str, ...] = (),
) -> str:
    return _serializer(secret_key, old_keys, purpose).dumps([subscriber_id, list_slug])


class TokenMaker:
    """`make_token` for one key, purpose and list, ~5x cheaper: a send signs two tokens per
    recipient.

    Writes the format of itsdangerous' URLSafeTimedSerializer with its default signer (a test
    compares the two byte for byte, and `read_token` verifies these through itsdangerous):
    base64url(compact JSON) "." base64url(timestamp) "." base64url(HMAC-SHA1), the HMAC key being
    SHA1(salt + "signer" + secret key). itsdangerous zlib-compresses a payload when that saves two
    bytes; ours (an id and a slug) never get shorter that way, and an uncompressed payload reads the
    same.
    """

    def __init__(self, secret_key: str, purpose: str, list_slug: str, clock=time.time):
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        derived = hashlib.sha1(
            f"mailer.{purpose}".encode() + b"signer" + secret_key.encode()
        ).digest()
        self._mac = hmac.new(derived, digestmod=hashlib.sha1)
        self._slug = json.dumps(list_slug, separators=(",", ":"))
        self._clock = clock
        self._stamped: tuple[int, bytes] = (-1, b"")  # one tuple: threads share a maker

    def token(self, subscriber_id: int) -> str:
        value = _b64(f"[{int(subscriber_id)},{self._slug}]".encode()) + b"." + self._timestamp()
        mac = self._mac.copy()
        mac.update(value)
        return (value + b"." + _b64(mac.digest())).decode("ascii")

    def _timestamp(self) -> bytes:
        second = int(self._clock())
        stamped = self._stamped
        if stamped[0] != second:
            stamped = self._stamped = (second, _b64(second.to_bytes(8, "big").lstrip(b"\x00")))
        return stamped[1]


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def read_token(
    secret_key: str,
    purpose: str,
    token: str,
    max_age: int | None = None,
    old_keys: tuple[str, ...] = (),
) -> TokenData:
    try:
        data = _serializer(secret_key, old_keys, purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        raise TokenError("link expired", expired=True) from None
    except BadData:  # bad signature, bad base64, bad JSON: all the same to the visitor
        raise TokenError("invalid link") from None
    if not (
        isinstance(data, list)
        and len(data) == 2
        and type(data[0]) is int
        and isinstance(data[1], str)
    ):
        raise TokenError("invalid link")
    return TokenData(subscriber_id=data[0], list_slug=data[1])


# --- address changes (/address/<token>; ARCHITECTURE.md, "Preferences") ---------------------
# The link mailed to a new address: which subscriber, which list's page asked, the new address and
# the consent event of the request (only the newest request's link applies; preferences.py). A salt
# of its own and a payload of its own: read_token never takes one for a [id, slug] token, nor the
# reverse. The payload is signed, not secret: it names only the address the mail is sent to.
ADDRESS_MAX_AGE = 2 * 24 * 3600  # the new address's owner has two days to confirm
_ADDRESS_SALT = "mailer.address-change"


@dataclass(frozen=True)
class AddressToken:
    subscriber_id: int
    list_slug: str
    new_email: str
    request_id: int  # the ADDRESS_REQUEST consent event


def make_address_token(secret_key: str, token: AddressToken, old_keys: tuple[str, ...] = ()) -> str:
    serializer = URLSafeTimedSerializer([*old_keys, secret_key], salt=_ADDRESS_SALT)
    return serializer.dumps(
        [token.subscriber_id, token.list_slug, token.new_email, token.request_id]
    )


def read_address_token(
    secret_key: str, raw: str, old_keys: tuple[str, ...] = (), max_age: int = ADDRESS_MAX_AGE
) -> AddressToken:
    """The token's data; TokenError (expired or not) for anything else."""
    serializer = URLSafeTimedSerializer([*old_keys, secret_key], salt=_ADDRESS_SALT)
    try:
        data = serializer.loads(raw, max_age=max_age)
    except SignatureExpired:
        raise TokenError("link expired", expired=True) from None
    except BadData:
        raise TokenError("invalid link") from None
    kinds = (int, str, str, int)
    if not (
        isinstance(data, list)
        and len(data) == len(kinds)
        and all(type(value) is kind for value, kind in zip(data, kinds, strict=True))
    ):
        raise TokenError("invalid link")
    return AddressToken(*data)


# --- counted links (/r/<token>; ARCHITECTURE.md, "Clicks") ------------------------------------
# Not itsdangerous: its JSON-and-timestamp format makes a 60-character token for three numbers, and
# a mail carries one per content link. This is the same construction (an HMAC over the payload,
# compared in constant time), compact: varints of (send id, link position, hand-over second), then
# the first CLICK_MAC_BYTES of HMAC-SHA256, base64url without padding: about 24 characters.
CLICK_MAC_BYTES = 9
_CLICK_SALT = b"mailer.click"


@dataclass(frozen=True)
class ClickToken:
    """What a counted link says: which send, which of its links, and the second its message was
    handed over (scanner filtering; shared by every message of that second). Never who."""

    send_id: int
    position: int
    handed_over: int  # Unix time, seconds


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _read_varints(data: bytes, count: int) -> list[int] | None:
    numbers, value, shift = [], 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if shift > 63:
            return None
        if not byte & 0x80:
            numbers.append(value)
            value, shift = 0, 0
    return numbers if len(numbers) == count and shift == 0 else None


def _click_mac(secret_key: str, payload: bytes) -> bytes:
    key = hashlib.sha256(_CLICK_SALT + secret_key.encode()).digest()
    return hmac.new(key, payload, hashlib.sha256).digest()[:CLICK_MAC_BYTES]


def make_click_token(secret_key: str, click: ClickToken) -> str:
    payload = _varint(click.send_id) + _varint(click.position) + _varint(click.handed_over)
    return _b64(payload + _click_mac(secret_key, payload)).decode("ascii")


def read_click_token(secret_key: str, token: str, old_keys: tuple[str, ...] = ()) -> ClickToken:
    """The token's data; TokenError for anything tampered, truncated or signed by no key of ours."""
    if not 12 <= len(token) <= 64 or not token.isascii():
        raise TokenError("invalid link")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        raise TokenError("invalid link") from None
    # One spelling per token: base64 ignores the unused low bits of a last character and a stray
    # "=", so without this a token would have several accepted forms.
    if _b64(raw).decode("ascii") != token:
        raise TokenError("invalid link")
    payload, mac = raw[:-CLICK_MAC_BYTES], raw[-CLICK_MAC_BYTES:]
    if not any(
        hmac.compare_digest(mac, _click_mac(key, payload)) for key in (secret_key, *old_keys)
    ):
        raise TokenError("invalid link")
    numbers = _read_varints(payload, 3)
    if numbers is None:
        raise TokenError("invalid link")
    return ClickToken(*numbers)
