"""Archive fixtures: issues put in the archive the way a send does (the render stored, the send
started), and a bulk maker for big archives."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select

from mailer.audience.lists import ensure_list
from mailer.content.issue_file import load_issue
from mailer.content.lists import load_list
from mailer.content.load import issue_defaults
from mailer.send.campaign import plan_issue
from mailer.send.ledger import Ledger
from mailer.store.db import transaction
from mailer.store.models import Issue, Send, SendState
from tests.conftest import REPO

LIST = load_list(REPO / "lists", "ai-morning-post")
SEEDS = sorted((REPO / "issues" / "ai-morning-post").glob("*.md"))


def seed_contents():
    return [load_issue(path, issue_defaults(LIST)) for path in SEEDS]


def send_started(factory, settings, content, list_def=LIST) -> int:
    """Store and plan the issue, then start its send, as `mailer send` does before the first
    mail goes out; the send id."""
    _prepared, planned = plan_issue(factory, settings, list_def, content)
    Ledger(factory).set_state(planned.send_id, SendState.SENDING)
    return planned.send_id


WORDS = ("quantum", "diffusion", "agents", "robotics", "alignment", "benchmark", "multimodal")


def bulk_issues(
    factory, count: int, first: dt.date, sent: bool = True, list_def=LIST
) -> list[dt.date]:
    """`count` issues on consecutive days from `first`, with headline "Issue N: <word>" and a text
    naming the word, each with a started send when `sent`."""
    with transaction(factory) as session:
        list_id = ensure_list(session, list_def)
        rows = []
        for n in range(count):
            word = WORDS[n % len(WORDS)]
            rows.append(
                dict(
                    list_id=list_id,
                    issue_date=first + dt.timedelta(days=n),
                    subject=f"Subject {n}",
                    source_path=f"bulk/{n}.md",
                    content_hash=f"{n:064d}",
                    html=f"<html><head></head><body><p>Body {n} of {word}</p></body></html>",
                    text=f"Body {n} about {word} and marker{n}x.",
                    headline=f"Issue {n}: {word}",
                    dek=f"Dek {n}",
                )
            )
        session.execute(insert(Issue), rows)
        if sent:
            ids = session.scalars(
                select(Issue.id).where(
                    Issue.list_id == list_id,
                    Issue.issue_date.between(first, first + dt.timedelta(days=count - 1)),
                )
            )
            started = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
            session.execute(
                insert(Send),
                [dict(issue_id=i, list_id=list_id, state="done", started_at=started) for i in ids],
            )
    return [first + dt.timedelta(days=n) for n in range(count)]
