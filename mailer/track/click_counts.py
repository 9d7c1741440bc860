"""What a click on a counted link counts as, and the one transaction that writes a batch of them
(ARCHITECTURE.md, "Clicks"). The web app (web/click_counter.py) keeps clicks in memory and hands
them here about once a second; the reads for reports are track/clicks.py.

Counted per send, link, UTC hour and kind, never per person:

- **scanner**: a HEAD request; a user agent containing one of SCANNER_AGENTS (case-insensitive) or
  none at all; a click earlier than the message's hand-over plus the list's
  `scanner_window_seconds` (mail gateways open every link of a message as it arrives).
- **reader**: every other click.

A reader's click also leaves one visitor hash for the link and day: HMAC-SHA256 with the salt of
that send and UTC day (click_salts, random, made by the first click of the day and shared by every
worker) over the client's network (IPv4 /24, IPv6 /48) and user agent, cut to 16 bytes. Distinct
hashes estimate unique readers. The salt of a past day is deleted by the next write (the web app
writes at least once a second), after which no hash can be recomputed from an address: nothing
stored names a reader. Scanner clicks leave no hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from mailer.store.models import ClickSalt, ClickVisitor, LinkClicks, LinkKind, Send
from mailer.store.queries import dialect_insert

# Substrings of the user agents of link scanners, previewers and scripts, matched case-insensitively
# anywhere in the User-Agent header (README, "What is counted", lists them). Mail security gateways
# follow every link of an incoming message; chat apps fetch a link to draw its preview; scripts and
# headless browsers are nobody reading. "bot", "crawler" and "spider" cover the search engines' and
# most previewers' (Slackbot, Twitterbot, LinkedInBot, Discordbot, TelegramBot, Applebot...).
SCANNER_AGENTS = (
    "bot",
    "crawler",
    "spider",
    "scanner",
    "barracuda",
    "proofpoint",
    "mimecast",
    "urldefense",
    "safelinks",
    "microsoft office",
    "ms-office",
    "ironport",
    "fortiguard",
    "trendmicro",
    "sophos",
    "forcepoint",
    "zscaler",
    "headlesschrome",
    "phantomjs",
    "facebookexternalhit",
    "whatsapp",
    "skypeuripreview",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "curl",
    "wget",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww-perl",
)
_SCANNER_RE = re.compile("|".join(re.escape(agent) for agent in SCANNER_AGENTS), re.IGNORECASE)
USER_AGENT_MAX = 512  # of a user agent, hashed; longer ones are cut (they name no one better)
IPV4_PREFIX, IPV6_PREFIX = 24, 48
VISITOR_HEX = 32  # 16 bytes of the HMAC, as click_visitors.visitor holds them
_ROWS_A_STATEMENT = 500  # one multi-row INSERT each; well under SQLite's bound parameters


@dataclass(frozen=True, order=True)
class CountKey:
    """One row of link_clicks: clicks of this kind on this link in this UTC hour."""

    send_id: int
    position: int
    hour: dt.datetime
    kind: str


@dataclass(frozen=True, order=True)
class VisitorKey:
    """A reader's click before hashing: kept in memory only until the next write."""

    send_id: int
    position: int
    day: dt.date
    network: str
    agent: str  # the User-Agent header, cut at USER_AGENT_MAX


def is_scanner_agent(user_agent: str | None) -> bool:
    """No user agent at all, or one naming a known scanner (SCANNER_AGENTS)."""
    return not user_agent or _SCANNER_RE.search(user_agent) is not None


def click_kind(
    method: str, user_agent: str | None, at: float, handed_over: int, window_seconds: int
) -> LinkKind:
    """The kind of one click at Unix time `at` on a link of a message handed over at
    `handed_over`."""
    if method == "HEAD" or is_scanner_agent(user_agent) or at < handed_over + window_seconds:
        return LinkKind.SCANNER
    return LinkKind.READER


def network_of(address: str | None) -> str:
    """The client's network: IPv4 /24, IPv6 /48 (an IPv4-mapped IPv6 address as IPv4); "" when
    there is no usable address."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # The host bits cleared by hand: ip_network(..., strict=False) costs ten times as much.
    prefix = IPV4_PREFIX if ip.version == 4 else IPV6_PREFIX
    host_bits = ip.max_prefixlen - prefix
    return f"{type(ip)(int(ip) >> host_bits << host_bits)}/{prefix}"


def hour_of(at: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(at, dt.UTC).replace(minute=0, second=0, microsecond=0)


def day_of(at: float) -> dt.date:
    return dt.datetime.fromtimestamp(at, dt.UTC).date()


def visitor_hash(salt: str, network: str, user_agent: str) -> str:
    mac = hmac.new(salt.encode(), f"{network}\0{user_agent}".encode(), hashlib.sha256)
    return mac.hexdigest()[:VISITOR_HEX]


def day_salts(session: Session, wanted: Iterable[tuple[int, dt.date]]) -> dict:
    """The salt of each (send id, day): made by whichever writer comes first (INSERT ... ON
    CONFLICT DO NOTHING), then read, so every worker hashes with the same one. In the caller's
    transaction: cache them only once it is committed."""
    pairs = sorted(set(wanted))  # one order for every worker: no deadlock between two writers
    if not pairs:
        return {}
    rows = [dict(send_id=s, day=d, salt=secrets.token_hex(32)) for s, d in pairs]
    for chunk in _chunks(rows):
        session.execute(dialect_insert(session, ClickSalt).values(chunk).on_conflict_do_nothing())
    found = session.execute(
        select(ClickSalt.send_id, ClickSalt.day, ClickSalt.salt).where(
            tuple_(ClickSalt.send_id, ClickSalt.day).in_(pairs)
        )
    )
    return {(s, d): salt for s, d, salt in found}


def existing_sends(session: Session, send_ids: Iterable[int]) -> set[int]:
    """Of these sends, those still in the database (a deleted send's clicks have nowhere to go)."""
    ids = sorted(set(send_ids))
    return set(session.scalars(select(Send.id).where(Send.id.in_(ids)))) if ids else set()


def write_counts(session: Session, counts: Mapping[CountKey, int]) -> None:
    """Add `counts` to link_clicks: one upsert per row, `clicks = clicks + excluded.clicks`."""
    rows = [
        dict(send_id=k.send_id, position=k.position, hour=k.hour, kind=k.kind, clicks=n)
        for k, n in sorted(counts.items())
    ]
    for chunk in _chunks(rows):
        insert = dialect_insert(session, LinkClicks).values(chunk)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["send_id", "position", "hour", "kind"],
                set_={"clicks": LinkClicks.clicks + insert.excluded.clicks},
            )
        )


def write_visitors(session: Session, visitors: Iterable[VisitorKey], salts: Mapping) -> None:
    """One hash per distinct visitor of a link and day (a repeat changes nothing)."""
    hashed = {
        (v.send_id, v.position, v.day, visitor_hash(salts[v.send_id, v.day], v.network, v.agent))
        for v in visitors
    }
    dicts = [dict(send_id=s, position=p, day=d, visitor=h) for s, p, d, h in sorted(hashed)]
    for chunk in _chunks(dicts):
        session.execute(
            dialect_insert(session, ClickVisitor).values(chunk).on_conflict_do_nothing()
        )


def drop_past_salts(session: Session, today: dt.date) -> int:
    """Delete the salt of every day before `today` (UTC): their hashes can no longer be made
    again from an address. The number deleted."""
    return session.execute(delete(ClickSalt).where(ClickSalt.day < today)).rowcount or 0


def _chunks(rows: list) -> Iterable[list]:
    for start in range(0, len(rows), _ROWS_A_STATEMENT):
        yield rows[start : start + _ROWS_A_STATEMENT]
