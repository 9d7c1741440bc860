"""What the archive shows, read from the issues a send froze (ARCHITECTURE.md, "The archive").

An issue is in the archive when its send has started (some reader may hold it: its "View in browser"
link must work) or when an operator marked it public and its date has come; never when marked
hidden. Its publication time is its send's start, else the time it was stored. Sessions come from
the caller; only `set_visibility` writes.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    String,
    and_,
    bindparam,
    column,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from mailer.content.lists import ListDefinition
from mailer.store.models import Issue, IssueCard, MailingList, Send, Visibility

PER_PAGE = 20
FEED_SIZE = 20
MAX_QUERY = 200  # characters of a search query; the rest is ignored
# The expression migration 0006 indexes (GIN): PostgreSQL uses the index only for this same text.
PG_SEARCH_VECTOR = (
    "to_tsvector('english', issues.headline || ' ' || issues.dek || ' ' || issues.text)"
)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class ArchivedIssue:
    """One line of the index: what a reader sees before opening the issue."""

    id: int
    date: dt.date
    subject: str
    headline: str
    dek: str
    published: dt.datetime
    content_hash: str

    @property
    def title(self) -> str:
        return self.headline or self.subject


@dataclass(frozen=True)
class ArchivedPage:
    """An issue with its frozen render (still holding the %%PLACEHOLDERS%%)."""

    issue: ArchivedIssue
    html: str
    text: str


@dataclass(frozen=True)
class Listing:
    issues: tuple[ArchivedIssue, ...]
    page: int
    pages: int
    total: int
    query: str


def _published_at():
    return func.coalesce(Send.started_at, Issue.created_at)


def _in_archive(slug: str, today: dt.date) -> ColumnElement[bool]:
    sent = Send.started_at.is_not(None)
    public = and_(Issue.visibility == Visibility.PUBLIC.value, Issue.issue_date <= today)
    return and_(
        MailingList.slug == slug,
        or_(Issue.visibility.is_(None), Issue.visibility != Visibility.HIDDEN.value),
        or_(sent, public),
    )


def _select(*columns, slug: str, today: dt.date):
    return (
        select(*columns)
        .join(MailingList, MailingList.id == Issue.list_id)
        .outerjoin(Send, Send.issue_id == Issue.id)
        .where(_in_archive(slug, today))
    )


_SUMMARY = (
    Issue.id,
    Issue.issue_date,
    Issue.subject,
    Issue.headline,
    Issue.dek,
    _published_at(),
    Issue.content_hash,
)


def _summary(row) -> ArchivedIssue:
    published = row[5]
    if published.tzinfo is None:  # SQLite hands back naive datetimes; they were written in UTC
        published = published.replace(tzinfo=dt.UTC)
    return ArchivedIssue(row[0], row[1], row[2], row[3], row[4], published, row[6])


def _fts5_query(words: list[str]) -> str:
    """Each word quoted (FTS5's own syntax never sees the reader's text), the last one as a prefix,
    so that "multimod" finds "multimodal" while the reader types; all words must match."""
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def _matching(session: Session, query: str) -> ColumnElement[bool] | None:
    words = _WORD.findall(query[:MAX_QUERY])
    if not words:
        return None
    if session.get_bind().dialect.name == "postgresql":
        # websearch_to_tsquery accepts any text (quotes, -minus, "or") without a syntax error
        return text(
            f"{PG_SEARCH_VECTOR} @@ websearch_to_tsquery('english', :archive_query)"
        ).bindparams(archive_query=" ".join(words))
    fts = text("SELECT rowid FROM issues_fts WHERE issues_fts MATCH :archive_query").bindparams(
        archive_query=_fts5_query(words)
    )
    return Issue.id.in_(fts.columns(column("rowid", Integer)))


def listing(
    session: Session, slug: str, today: dt.date, page: int = 1, query: str = ""
) -> Listing | None:
    """Page `page` (from 1) of the archive, newest first, PER_PAGE a page; None when there is no
    such page (page 1 always exists, if empty)."""
    statement = _select(*_SUMMARY, slug=slug, today=today)
    matching = _matching(session, query)
    if matching is not None:
        statement = statement.where(matching)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    pages = max(1, math.ceil(total / PER_PAGE))
    if page < 1 or page > pages:
        return None
    rows = session.execute(
        statement.order_by(Issue.issue_date.desc()).limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    )
    return Listing(tuple(_summary(r) for r in rows), page, pages, total, query[:MAX_QUERY])


def everything(
    session: Session, slug: str, today: dt.date, limit: int | None = None
) -> list[ArchivedIssue]:
    """Every issue in the archive (or the newest `limit`), newest first: the feeds, the sitemap,
    the static site."""
    statement = _select(*_SUMMARY, slug=slug, today=today).order_by(Issue.issue_date.desc())
    if limit is not None:
        statement = statement.limit(limit)
    return [_summary(r) for r in session.execute(statement)]


def latest(session: Session, slug: str, today: dt.date) -> dt.date | None:
    return session.scalar(_select(func.max(Issue.issue_date), slug=slug, today=today))


# The statements of one issue's page and card, built once with bound parameters: building one
# costs more CPU than running it (SQLAlchemy's expression objects), and these run on every
# request of an issue page or card (bench/web.py).
_SLUG, _TODAY, _DAY = (
    bindparam("slug", type_=String),
    bindparam("today", type_=Date),
    bindparam("day", type_=Date),
)
_AT_DAY = _select(*_SUMMARY, slug=_SLUG, today=_TODAY).where(Issue.issue_date == _DAY)


def _neighbour(aggregate, beyond: ColumnElement[bool]):
    # correlate(None): the subquery reads issues of its own, not the row of the enclosing query
    statement = _select(aggregate(Issue.issue_date), slug=_SLUG, today=_TODAY).where(beyond)
    return statement.correlate(None).scalar_subquery()


_AT_DAY_WITH_NEIGHBOURS = _AT_DAY.add_columns(
    _neighbour(func.max, Issue.issue_date < _DAY), _neighbour(func.min, Issue.issue_date > _DAY)
)


def summary(session: Session, slug: str, day: dt.date, today: dt.date) -> ArchivedIssue | None:
    row = session.execute(_AT_DAY, {"slug": slug, "today": today, "day": day}).first()
    return _summary(row) if row else None


def located(
    session: Session, slug: str, day: dt.date, today: dt.date
) -> tuple[ArchivedIssue, dt.date | None, dt.date | None] | None:
    """The issue of `day` with the dates of the issues before and after it in the archive (one
    query: what an issue page needs), or None when `day` has no issue in the archive."""
    row = session.execute(
        _AT_DAY_WITH_NEIGHBOURS, {"slug": slug, "today": today, "day": day}
    ).first()
    if row is None:
        return None
    return _summary(row), row[-2], row[-1]


def neighbours(
    session: Session, slug: str, day: dt.date, today: dt.date
) -> tuple[dt.date | None, dt.date | None]:
    """(the issue before `day`, the one after), in the archive."""
    before = session.scalar(
        _select(func.max(Issue.issue_date), slug=slug, today=today).where(Issue.issue_date < day)
    )
    after = session.scalar(
        _select(func.min(Issue.issue_date), slug=slug, today=today).where(Issue.issue_date > day)
    )
    return before, after


def page(session: Session, issue: ArchivedIssue) -> ArchivedPage:
    html, body_text = session.execute(
        select(Issue.html, Issue.text).where(Issue.id == issue.id)
    ).one()
    return ArchivedPage(issue, html, body_text)


def card(session: Session, issue: ArchivedIssue) -> bytes | None:
    """The stored share card of this render of the issue, if it was made (issues stored before
    migration 0006 have none: the caller draws one)."""
    return session.scalar(
        select(IssueCard.png).where(
            IssueCard.issue_id == issue.id, IssueCard.content_hash == issue.content_hash
        )
    )


def set_visibility(
    session: Session, slug: str, day: dt.date, visibility: Visibility | None
) -> bool:
    """Mark the issue of `day` public, hidden, or neither (None); False when there is no such
    issue stored."""
    list_id = session.scalar(select(MailingList.id).where(MailingList.slug == slug))
    if list_id is None:
        return False
    result = session.execute(
        update(Issue)
        .where(Issue.list_id == list_id, Issue.issue_date == day)
        .values(visibility=visibility.value if visibility else None)
    )
    return result.rowcount > 0


def today_of(list_def: ListDefinition, now: dt.datetime | None = None) -> dt.date:
    """The date in the list's own time zone ([schedule] timezone, else UTC): a marked-public issue
    appears on its morning there, not on the UTC one."""
    now = now or dt.datetime.now(dt.UTC)
    zone = list_def.schedule.zone if list_def.schedule else dt.UTC
    return now.astimezone(zone).date()
