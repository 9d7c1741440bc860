"""A weekly digest's content (ARCHITECTURE.md, "Preferences"): the headlines and deks of the list's
issues sent in the seven days before the digest date, and the week's trending summary, computed
from the snapshots those issues were rendered from. Plain data, as `IssueContent` is for an issue;
the send stage finds the week's issues and renders the digest (render/digest.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailer.content.github import SOURCE as GITHUB
from mailer.content.huggingface import DATASETS, MODELS
from mailer.content.lists import WEEKDAYS, ListDefinition
from mailer.content.snapshots import Snapshot, latest_snapshot
from mailer.content.trending import configured_sources, select_hf, select_repos
from mailer.content.trending_config import TrendingConfig, trending_config

WEEK = dt.timedelta(days=7)
TRENDS_SHOWN = 6  # the summary's length: what stayed on top, not the whole week's lists


@dataclass(frozen=True)
class WeekIssue:
    """One issue of the week as the digest shows it."""

    date: dt.date
    headline: str
    dek: str
    url: str  # its archive page


@dataclass(frozen=True)
class WeekTrend:
    """An entry of the trending lists and how many of the week's issues showed it."""

    name: str
    kind: str  # "Hugging Face model" | "Hugging Face dataset" | "GitHub repository"
    url: str
    issues: int  # how many of the week's issues had it in their trending lists
    of: int  # how many of the week's issues had trending lists of its source


@dataclass(frozen=True)
class DigestContent:
    list_slug: str
    date: dt.date  # the digest day
    week_start: dt.date  # the first day it covers (date - 7 days)
    subject: str
    issues: tuple[WeekIssue, ...]  # oldest first
    trends: tuple[WeekTrend, ...] = ()

    @property
    def week_end(self) -> dt.date:
        return self.date - dt.timedelta(days=1)

    @property
    def preheader(self) -> str:
        count = len(self.issues)
        noun = "issue" if count == 1 else "issues"
        return f"{count} {noun} this week: {self.issues[-1].headline}" if count else ""


def week_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """(first, last) issue date a digest sent on `day` covers: the seven days before it."""
    return day - WEEK, day - dt.timedelta(days=1)


def digest_subject(list_def: ListDefinition) -> str:
    """[digest] subject, or the default "<list name>: the week" when it is empty."""
    return list_def.digest.subject or f"{list_def.name}: the week"


def weekday_name(day: dt.date) -> str:
    """The [digest] day spelling of a date's weekday ('sun' for a Sunday)."""
    return WEEKDAYS[day.weekday()]


def _shown(config: TrendingConfig, source: str, snapshot: Snapshot) -> list[tuple[str, str, str]]:
    """(name, kind, url) of what an issue rendered from `snapshot` listed, as trending.py picks
    them (the counts and tasks of the list's [sources])."""
    hf, gh = config.huggingface, config.github
    if source == GITHUB and gh:
        return [(r.name, "GitHub repository", r.url) for r in select_repos(snapshot, gh.count)]
    if source == MODELS and hf:
        return [
            (m.id, "Hugging Face model", m.url)
            for m in select_hf(snapshot, "model", hf.models, hf.tasks)
        ]
    if source == DATASETS and hf:
        return [
            (m.id, "Hugging Face dataset", m.url)
            for m in select_hf(snapshot, "dataset", hf.datasets, hf.tasks)
        ]
    return []


def week_trends(
    session: Session, list_def: ListDefinition, issue_dates: Iterable[dt.date]
) -> tuple[WeekTrend, ...]:
    """What stayed on the trending lists this week: for each configured source, the snapshot each
    issue of the week was rendered from (the newest on or before its date), and how many of them
    listed each entry; the most frequent first (then the best rank, then the name). Nothing when
    the list has no [sources] or no snapshots."""
    config = trending_config(list_def)
    dates = sorted(set(issue_dates))
    seen: dict[tuple[str, str], tuple[int, int, str]] = {}  # (kind, name) -> (issues, rank, url)
    totals: dict[str, int] = {}
    for source in configured_sources(config):
        for day in dates:
            snapshot = latest_snapshot(session, source, day)
            if snapshot is None:
                continue
            shown = _shown(config, source, snapshot)
            if shown:
                totals[shown[0][1]] = totals.get(shown[0][1], 0) + 1
            for rank, (name, kind, url) in enumerate(shown):
                count, best, _ = seen.get((kind, name), (0, rank, url))
                seen[(kind, name)] = (count + 1, min(best, rank), url)
    ranked = sorted(seen.items(), key=lambda item: (-item[1][0], item[1][1], item[0][1]))
    return tuple(
        WeekTrend(name=name, kind=kind, url=url, issues=count, of=totals[kind])
        for (kind, name), (count, _, url) in ranked[:TRENDS_SHOWN]
    )


def digest_content(
    session: Session,
    list_def: ListDefinition,
    day: dt.date,
    issues: Sequence[WeekIssue],
) -> DigestContent:
    """The digest sent on `day` of these issues (the week's, oldest first), with its trends."""
    return DigestContent(
        list_slug=list_def.slug,
        date=day,
        week_start=week_of(day)[0],
        subject=digest_subject(list_def),
        issues=tuple(issues),
        trends=week_trends(session, list_def, (issue.date for issue in issues)),
    )
