"""`mailer issue new`: a new issue file with the editorial sections to fill and trending attached.

Editorial sections come from a source issue (usually the latest): by default as "TODO" prompts
under the same headings, or with `copy_text` as-is. The trending sections and the computed
figures are written into the file from the snapshots, so the issue renders from what the editor
saw, whatever is fetched later.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session

from mailer.content.issue_writer import format_issue
from mailer.content.lists import ListDefinition
from mailer.content.model import Article, CallToAction, IssueContent, Section
from mailer.content.trending import (
    configured_sources,
    load_snapshots,
    require_fresh_snapshots,
    trending_sections,
)
from mailer.content.trending_config import trending_config
from mailer.errors import MailerError

TODO = "TODO:"
# What each prompt asks for (written after TODO); `mailer lint` knows them too, so that a prompt
# whose
# "TODO:" was deleted but whose text was kept still stops the send.
PROMPTS = {
    "subject": "subject line",
    "preheader": "inbox preview line",
    "headline": "headline",
    "dek": "one-paragraph summary under the headline",
    "lead": "lead story paragraphs, separated by blank lines",
    "deep_dive_title": "deep dive title",
    "deep_dive": "deep dive paragraphs",
    "opinion_title": "opinion title",
    "opinion": "opinion paragraphs",
}


def blank_issue(list_def: ListDefinition, day: dt.date) -> IssueContent:
    """The skeleton used when there is no earlier issue to take headings from."""
    return IssueContent(
        path="",
        list_slug=list_def.slug,
        date=day,
        subject="",
        preheader="",
        masthead=list_def.name,
        tagline=list_def.tagline,
        headline="",
        dek="",
        lead=(),
        metrics=Section("By the Numbers"),
        figures=(),
        deep_dive=Article("Deep Dive", ()),
        opinion_heading="Opinion & Analysis",
        opinions=(Article("Opinion", ()),),
        tools=Section("Tools of the Week"),
        tool_items=(),
        trending=Section("Trending: What's Gaining Momentum"),
        hf_heading="Models & Datasets of the Week",
        hf_models=(),
        github_heading="AI/ML Repositories of the Week",
        github_repos=(),
        movers=Section("Biggest Movers This Week"),
        mover_items=(),
        reading=Section("Weekend Reading"),
        reading_items=(),
        cta=CallToAction(
            f"Subscribe to {list_def.name}", "", "Subscribe", "", "Scan to subscribe on mobile"
        ),
    )


def prompts(source: IssueContent, day: dt.date) -> IssueContent:
    """Keep the headings, intros and call to action; ask for everything written fresh each day."""

    def ask(what: str) -> str:
        return f"{TODO} {PROMPTS[what]}"

    return replace(
        source,
        path="",
        date=day,
        subject=ask("subject"),
        preheader=ask("preheader"),
        headline=ask("headline"),
        dek=ask("dek"),
        lead=(ask("lead"),),
        deep_dive=Article(ask("deep_dive_title"), (ask("deep_dive"),)),
        opinions=tuple(Article(ask("opinion_title"), (ask("opinion"),)) for _ in source.opinions),
        tool_items=(),
        reading_items=(),
    )


def _without_trending(issue: IssueContent, day: dt.date) -> IssueContent:
    return replace(
        issue,
        path="",
        date=day,
        figures=(),
        hf_models=(),
        github_repos=(),
        mover_items=(),
        trending_as_of=None,
    )


def scaffold_issue(
    session: Session,
    list_def: ListDefinition,
    day: dt.date,
    source: IssueContent | None,
    copy_text: bool = False,
    require_fresh: bool = False,
    today: dt.date | None = None,
) -> tuple[IssueContent, dict]:
    """(the new issue, the snapshots used by source name: None where there is none)."""
    if source is None:
        base = prompts(blank_issue(list_def, day), day)
    elif copy_text:
        base = _without_trending(source, day)
    else:
        base = prompts(_without_trending(source, day), day)
    config = trending_config(list_def)
    sources = configured_sources(config)
    snapshots = load_snapshots(session, sources, day)
    if require_fresh:
        require_fresh_snapshots(snapshots, min(day, today or day))
    computed = trending_sections(session, config, snapshots)
    days = [s.taken_on for s in snapshots.values() if s]
    as_of = min(days) if days and min(days) < day else None
    return replace(base, trending_as_of=as_of, **computed), snapshots


def write_issue_file(issue: IssueContent, folder: Path, force: bool = False) -> Path:
    path = folder / issue.list_slug / f"{issue.date.isoformat()}.md"
    if path.exists() and not force:
        raise MailerError(f"{path} already exists; edit it, or pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_issue(issue), encoding="utf-8")
    return path
