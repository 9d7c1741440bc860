"""Reads of the counted clicks (ARCHITECTURE.md, "Clicks"): per link and per section of a send, the
estimated unique clickers of sends, and the click rates of URLs over the weeks before an issue,
which `mailer issue new` orders trending entries and readings by.

What the numbers mean:
- `clicks`: reader clicks (link_clicks of kind reader); scanner clicks are `scanner`, apart.
- `unique`: distinct (day, visitor) among a link's click_visitors rows, the estimate of how many
  readers followed it (a reader on two days counts twice: the salt changes daily, by design). A
  section's `unique` is the distinct (day, visitor) over all of its links, not their sum: a reader
  who opened two links of a section is one there.
- the reach of a send, what rates divide by: its delivered messages (ledger rows with an SES
  Delivery event); for a send with no Delivery event at all (SMTP and the outbox report none), the
  messages the transport accepted (`sent`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.db import transaction
from mailer.store.models import (
    ACCEPTED,
    ClickVisitor,
    Delivery,
    Event,
    EventKind,
    Issue,
    LinkClicks,
    LinkKind,
    MailingList,
    Send,
    SendLink,
)
from mailer.track.report import find_send

RATE_WEEKS = 4  # `order_by_clicks` looks at the sends of the four weeks before the new issue


@dataclass(frozen=True)
class LinkStat:
    """One counted link of a send, at its position in the issue."""

    position: int
    url: str
    section: str
    clicks: int
    unique: int
    scanner: int

    def as_dict(self) -> dict:
        return {
            "url": self.url,
            "section": self.section,
            "clicks": self.clicks,
            "unique": self.unique,
            "scanner": self.scanner,
        }


@dataclass(frozen=True)
class SectionStat:
    """The links of one section of a send, added up (unique: distinct readers over the section)."""

    section: str
    clicks: int
    unique: int
    scanner: int
    links: int

    def as_dict(self) -> dict:
        return {
            "section": self.section,
            "clicks": self.clicks,
            "unique": self.unique,
            "scanner": self.scanner,
            "links": self.links,
        }


def _clicks_by_position(session: Session, send_id: int) -> dict[tuple[int, str], int]:
    rows = session.execute(
        select(LinkClicks.position, LinkClicks.kind, func.sum(LinkClicks.clicks))
        .where(LinkClicks.send_id == send_id)
        .group_by(LinkClicks.position, LinkClicks.kind)
    )
    return {(position, kind): int(total) for position, kind, total in rows}


def _unique_by_position(session: Session, send_id: int) -> dict[int, int]:
    # (day, visitor) is the primary key's rest, so counting rows per position counts distinct pairs
    rows = session.execute(
        select(ClickVisitor.position, func.count())
        .where(ClickVisitor.send_id == send_id)
        .group_by(ClickVisitor.position)
    )
    return dict(rows.all())


def link_report(session: Session, send_id: int) -> list[LinkStat]:
    """Every counted link of the send in issue order (position 1..n), with its counts."""
    clicks = _clicks_by_position(session, send_id)
    unique = _unique_by_position(session, send_id)
    links = session.execute(
        select(SendLink.position, SendLink.url, SendLink.section)
        .where(SendLink.send_id == send_id)
        .order_by(SendLink.position)
    )
    return [
        LinkStat(
            position=position,
            url=url,
            section=section,
            clicks=clicks.get((position, LinkKind.READER), 0),
            unique=unique.get(position, 0),
            scanner=clicks.get((position, LinkKind.SCANNER), 0),
        )
        for position, url, section in links
    ]


def _unique_by_section(session: Session, send_id: int) -> dict[str, int]:
    pairs = (
        select(SendLink.section, ClickVisitor.day, ClickVisitor.visitor)
        .join(
            SendLink,
            (SendLink.send_id == ClickVisitor.send_id)
            & (SendLink.position == ClickVisitor.position),
        )
        .where(ClickVisitor.send_id == send_id)
        .distinct()
        .subquery()
    )
    rows = session.execute(select(pairs.c.section, func.count()).group_by(pairs.c.section))
    return dict(rows.all())


def section_report(
    session: Session, send_id: int, links: Iterable[LinkStat] | None = None
) -> list[SectionStat]:
    """The sections of the send in issue order (by their first link), each with its links' counts;
    `links` is the send's link_report when the caller has it already."""
    links = list(link_report(session, send_id) if links is None else links)
    unique = _unique_by_section(session, send_id)
    totals: dict[str, list[int]] = {}  # insertion order: the order of the sections' first links
    for link in links:
        row = totals.setdefault(link.section, [0, 0, 0])
        row[0] += link.clicks
        row[1] += link.scanner
        row[2] += 1
    return [
        SectionStat(section, clicks, unique.get(section, 0), scanner, count)
        for section, (clicks, scanner, count) in totals.items()
    ]


@dataclass(frozen=True)
class ClickReport:
    """`mailer report --links`: a send's clicks per link and per section."""

    send_id: int
    tracked: bool
    links: list[LinkStat]
    sections: list[SectionStat]

    def as_dict(self) -> dict:
        return {
            "links": [link.as_dict() for link in self.links],
            "sections": [section.as_dict() for section in self.sections],
        }

    def untracked_line(self) -> str:
        return (
            f"send #{self.send_id} went out without click tracking (its list's [analytics] "
            "clicks was off, or `mailer send --no-click-tracking`): no clicks were counted"
        )

    def lines(self) -> list[str]:
        """The tables of a tracked send (an untracked one has only its untracked_line)."""
        if not self.links:
            return [f"send #{self.send_id}: no counted links (the issue has no content links)"]
        width = max(len("section"), *(len(_label(s.section)) for s in self.sections))
        out = [
            f"send #{self.send_id}: clicks per link (clicks: readers; unique: estimated readers; "
            "scanner: link scanners, apart)",
            f"{'#':>3}  {'section':<{width}}  {'clicks':>7}  {'unique':>7}  {'scanner':>7}  url",
        ]
        out += [
            f"{link.position:>3}  {_label(link.section):<{width}}  {link.clicks:>7}  "
            f"{link.unique:>7}  {link.scanner:>7}  {link.url}"
            for link in self.links
        ]
        out += [
            "",
            "per section, in issue order",
            f"{'section':<{width}}  {'links':>5}  {'clicks':>7}  {'unique':>7}  {'scanner':>7}",
        ]
        out += [
            f"{_label(s.section):<{width}}  {s.links:>5}  {s.clicks:>7}  {s.unique:>7}  "
            f"{s.scanner:>7}"
            for s in self.sections
        ]
        return out


def _label(section: str) -> str:
    """A section as printed: links above the first section anchor have none."""
    return section or "(top)"


def build_click_report(session: Session, send: Send) -> ClickReport:
    links = link_report(session, send.id) if send.click_tracking else []
    sections = section_report(session, send.id, links) if links else []
    return ClickReport(send.id, bool(send.click_tracking), links, sections)


def click_report(
    factory: sessionmaker[Session], list_slug: str, issue_date: dt.date
) -> ClickReport:
    """`mailer report --links`: the click report of the send of (list, date)."""
    with transaction(factory) as session:
        return build_click_report(session, find_send(session, list_slug, issue_date))


# --- several sends at once: the trend and the feedback into the next issue --------------------


def sent_counts(session: Session, send_ids: list[int]) -> dict[int, int]:
    """Messages each send's transport accepted (ledger rows in an ACCEPTED state)."""
    rows = session.execute(
        select(Delivery.send_id, func.count())
        .where(Delivery.send_id.in_(send_ids), Delivery.state.in_(ACCEPTED))
        .group_by(Delivery.send_id)
    )
    return dict(rows.all())


def delivered_counts(session: Session, send_ids: list[int]) -> dict[int, int]:
    """Ledger rows of each send with at least one SES Delivery event."""
    rows = session.execute(
        select(Delivery.send_id, func.count(distinct(Event.delivery_id)))
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(Delivery.send_id.in_(send_ids), Event.event_type == EventKind.DELIVERY)
        .group_by(Delivery.send_id)
    )
    return dict(rows.all())


def reach(sent: int, delivered: int) -> int:
    """What a rate divides by: the delivered, or the sent when no Delivery event came at all."""
    return delivered if delivered else sent


def unique_clickers(session: Session, send_ids: list[int]) -> dict[int, int]:
    """Estimated readers who clicked anything in each send: distinct (day, visitor) over all of
    its links."""
    pairs = (
        select(ClickVisitor.send_id, ClickVisitor.day, ClickVisitor.visitor)
        .where(ClickVisitor.send_id.in_(send_ids))
        .distinct()
        .subquery()
    )
    rows = session.execute(select(pairs.c.send_id, func.count()).group_by(pairs.c.send_id))
    return dict(rows.all())


def url_click_rates(
    factory: sessionmaker[Session], list_slug: str, day: dt.date, weeks: int = RATE_WEEKS
) -> dict[str, float]:
    """Per URL, reader clicks / reach over the list's click-tracked sends of the `weeks` before
    `day` (issue dates day - 7*weeks .. day - 1). The reach counts only the sends that carried the
    URL, so a link that was in one issue is not diluted by the issues it was not in; a URL at two
    positions of one send adds both positions' clicks and that send's reach once. URLs that were in
    none of those sends are absent (unseen, not zero)."""
    with transaction(factory) as session:
        send_ids = list(
            session.scalars(
                select(Send.id)
                .join(Issue, Issue.id == Send.issue_id)
                .join(MailingList, MailingList.id == Issue.list_id)
                .where(
                    MailingList.slug == list_slug,
                    Send.click_tracking.is_(True),
                    Send.started_at.is_not(None),
                    Issue.issue_date >= day - dt.timedelta(weeks=weeks),
                    Issue.issue_date < day,
                )
            )
        )
        if not send_ids:
            return {}
        sent, delivered = sent_counts(session, send_ids), delivered_counts(session, send_ids)
        carried = session.execute(
            select(SendLink.url, SendLink.send_id).where(SendLink.send_id.in_(send_ids)).distinct()
        ).all()
        clicks = session.execute(
            select(SendLink.url, func.sum(LinkClicks.clicks))
            .join(
                SendLink,
                (SendLink.send_id == LinkClicks.send_id)
                & (SendLink.position == LinkClicks.position),
            )
            .where(LinkClicks.send_id.in_(send_ids), LinkClicks.kind == LinkKind.READER)
            .group_by(SendLink.url)
        )
        clicked = {url: int(total) for url, total in clicks}
    reached: dict[str, int] = defaultdict(int)
    for url, send_id in carried:
        reached[url] += reach(sent.get(send_id, 0), delivered.get(send_id, 0))
    return {url: clicked.get(url, 0) / total for url, total in reached.items() if total}
