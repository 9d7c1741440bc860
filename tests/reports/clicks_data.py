"""Counted clicks written straight into the tables, as the redirect's flusher leaves them, on sends
planned the way `mailer send` plans them (tests/archive/conftest.py send_started), with ledger
states, hand-over times and SES events set as a delivered send has them.

SCENARIO is one send with known answers: eight links in five sections (in issue order headline,
tools, huggingface, github, reading: neither alphabetical nor by clicks), one URL at two
positions, visitors shared between links of a section (a section's unique is not the sum of its
links'), and scanner clicks apart."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from sqlalchemy import select, update

from mailer.store.db import transaction
from mailer.store.models import (
    ClickVisitor,
    Delivery,
    Event,
    LinkClicks,
    LinkKind,
    Send,
    SendLink,
)
from tests.archive.conftest import LIST, seed_contents, send_started

UTC = dt.UTC
DAY = dt.date(2026, 11, 21)  # the scenario's issue
H6 = dt.datetime(2026, 11, 21, 6, tzinfo=UTC)

# (url, section) at positions 1..8
LINKS = [
    ("https://example.org/lead", "headline"),
    ("https://example.org/lead-2", "headline"),
    ("https://tools.example/a?x=1&y=2", "tools"),
    ("https://huggingface.co/a/alpha", "huggingface"),
    ("https://huggingface.co/b/beta", "huggingface"),
    ("https://github.com/o/big", "github"),
    ("https://essays.example/r", "reading"),
    ("https://example.org/lead", "reading"),
]
# position -> [(hour offset from H6, reader clicks, scanner clicks)]
CLICKS = {
    1: [(0, 2, 1), (1, 1, 0)],
    2: [(0, 1, 0)],
    3: [(0, 3, 2), (2, 2, 0)],
    5: [(1, 2, 0)],
    6: [(0, 4, 3), (3, 3, 1)],
    8: [(0, 1, 0)],
}
D0, D1 = DAY, DAY + dt.timedelta(days=1)
# position -> [(day, visitor hash)]
VISITORS = {
    1: [(D0, "v1"), (D0, "v2"), (D1, "v1")],
    2: [(D0, "v1")],
    3: [(D0, "v3"), (D0, "v4"), (D0, "v5"), (D0, "v6")],
    5: [(D0, "v1"), (D0, "v7")],
    6: [(D0, "v2"), (D0, "v3"), (D0, "v8"), (D0, "v9"), (D0, "v10")],
    8: [(D0, "v1")],
}
# What the report must say about it (reader clicks, unique, scanner per position)
EXPECTED_LINKS = [
    (1, 3, 3, 1),
    (2, 1, 1, 0),
    (3, 5, 4, 2),
    (4, 0, 0, 0),
    (5, 2, 2, 0),
    (6, 7, 5, 4),
    (7, 0, 0, 0),
    (8, 1, 1, 0),
]
# section, clicks, unique (distinct over the section), scanner, links
EXPECTED_SECTIONS = [
    ("headline", 4, 3, 1, 2),
    ("tools", 5, 4, 2, 1),
    ("huggingface", 2, 2, 0, 2),
    ("github", 7, 5, 4, 1),
    ("reading", 1, 1, 0, 2),
]
UNIQUE_CLICKERS = 11  # distinct (day, visitor) over the whole send


def content_of(day: dt.date):
    """A seed issue, dated `day` (any date: the seeds are the shipped sample issues)."""
    seeds = {content.date: content for content in seed_contents()}
    base = seeds.get(day) or seeds[max(seeds)]
    return replace(base, date=day)


def tracked_send(factory, settings, day: dt.date, tracked: bool = True) -> int:
    """A started send of the sample list's issue of `day`, with click tracking as given."""
    send_id = send_started(factory, settings, content_of(day), LIST)
    with transaction(factory) as session:
        session.execute(update(Send).where(Send.id == send_id).values(click_tracking=tracked))
    return send_id


def add_links(factory, send_id: int, links=LINKS) -> None:
    with transaction(factory) as session:
        session.add_all(
            SendLink(send_id=send_id, position=n, url=url, section=section)
            for n, (url, section) in enumerate(links, start=1)
        )


def add_clicks(factory, send_id: int, clicks=CLICKS, start: dt.datetime = H6) -> None:
    with transaction(factory) as session:
        for position, rows in clicks.items():
            for offset, reader, scanner in rows:
                hour = start + dt.timedelta(hours=offset)
                for kind, count in ((LinkKind.READER, reader), (LinkKind.SCANNER, scanner)):
                    if count:
                        session.add(
                            LinkClicks(
                                send_id=send_id,
                                position=position,
                                hour=hour,
                                kind=kind,
                                clicks=count,
                            )
                        )


def add_visitors(factory, send_id: int, visitors=VISITORS) -> None:
    with transaction(factory) as session:
        session.add_all(
            ClickVisitor(send_id=send_id, position=position, day=day, visitor=visitor)
            for position, rows in visitors.items()
            for day, visitor in rows
        )


def deliver(
    factory,
    send_id: int,
    sent_hours: list[int],
    delivered_hours: list[int | None],
    start: dt.datetime = H6,
    bounces: tuple[str, ...] = (),
    complaints: int = 0,
) -> list[int]:
    """The send's first len(sent_hours) ledger rows (by id) handed over at start + those hours, the
    rest left failed; row n with delivered_hours[n] set gets a Delivery event at that hour (plus
    20 minutes). Then bounce events (bounce types) and complaints on the next rows. The row ids."""
    with transaction(factory) as session:
        ids = list(
            session.scalars(
                select(Delivery.id).where(Delivery.send_id == send_id).order_by(Delivery.id)
            )
        )
        for n, row in enumerate(ids):
            if n < len(sent_hours):
                at = start + dt.timedelta(hours=sent_hours[n], minutes=5)
                state = (
                    "delivered"
                    if n < len(delivered_hours) and delivered_hours[n] is not None
                    else "sent"
                )
                session.execute(
                    update(Delivery).where(Delivery.id == row).values(state=state, sent_at=at)
                )
            else:
                session.execute(update(Delivery).where(Delivery.id == row).values(state="failed"))
        for n, hour in enumerate(delivered_hours):
            if hour is not None:
                session.add(
                    Event(
                        dedup_key=f"d{send_id}-{n}",
                        event_type="delivery",
                        delivery_id=ids[n],
                        occurred_at=start + dt.timedelta(hours=hour, minutes=20),
                        raw="{}",
                    )
                )
        for n, bounce_type in enumerate(bounces):
            session.add(
                Event(
                    dedup_key=f"b{send_id}-{n}",
                    event_type="bounce",
                    bounce_type=bounce_type,
                    delivery_id=ids[len(delivered_hours) + n],
                    raw="{}",
                )
            )
        for n in range(complaints):
            session.add(
                Event(
                    dedup_key=f"c{send_id}-{n}",
                    event_type="complaint",
                    delivery_id=ids[len(delivered_hours) + len(bounces) + n],
                    raw="{}",
                )
            )
    return ids


def scenario(factory, settings) -> int:
    """The SCENARIO send (issue of DAY): 20 of 21 handed over (12 at 06h, 8 at 07h), 15
    delivered (10 at 06h, 5 at 08h; one row with a second Delivery event at 09h, which does not
    count again), one hard and one soft bounce, one complaint; the links, clicks and visitors."""
    send_id = tracked_send(factory, settings, DAY)
    ids = deliver(
        factory,
        send_id,
        sent_hours=[0] * 12 + [1] * 8,
        delivered_hours=[0] * 10 + [None, None] + [2] * 5,
        bounces=("Permanent", "Transient"),
        complaints=1,
    )
    with transaction(factory) as session:
        session.add(
            Event(
                dedup_key=f"again{send_id}",
                event_type="delivery",
                delivery_id=ids[0],
                occurred_at=H6 + dt.timedelta(hours=3),
                raw="{}",
            )
        )
    add_links(factory, send_id)
    add_clicks(factory, send_id)
    add_visitors(factory, send_id)
    return send_id
