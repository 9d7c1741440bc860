"""Sends with counted links, put straight into the database (the rows a send with [analytics]
clicks = true leaves: issue, send, send_links), their tokens, and the counts read back. Used by
tests/web/test_clicks_http.py and bench/redirect.py."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

from sqlalchemy import insert, select

from mailer.audience.lists import ensure_list
from mailer.content.lists import ListDefinition, load_list
from mailer.store.db import transaction
from mailer.store.models import ClickVisitor, Issue, LinkClicks, Send, SendLink, SendState
from mailer.tokens import ClickToken, make_click_token
from tests.conftest import REPO, SECRET

LIST = load_list(REPO / "lists", "ai-morning-post")
# The kinds of URL a newsletter links to: query strings, fragments, escapes, ports, http.
URLS = (
    "https://huggingface.co/meta-llama/Llama-3.1-8B",
    "https://github.com/huggingface/transformers?tab=readme-ov-file#installation",
    "https://arxiv.org/abs/2401.00001v2",
    "https://example.org/search?q=a%20b&lang=en&x=%E2%9C%93",
    "http://plain-http.example:8080/path/;params?one=1&two=2",
    "https://example.com/",
)
LONG_AGO = 7200  # handed over long enough ago that a click is past any scanner window (<= 3600)


def click_send(
    factory, urls=URLS, day: dt.date = dt.date(2026, 11, 18), list_def: ListDefinition = LIST
) -> int:
    """An issue and its started send with one send_links row per URL (positions 1..n)."""
    with transaction(factory) as session:
        list_id = ensure_list(session, list_def)
        issue_id = session.scalar(
            insert(Issue)
            .values(
                list_id=list_id,
                issue_date=day,
                subject=f"Issue of {day}",
                source_path=f"clicks/{day}.md",
                content_hash=f"{day.toordinal():064d}",
                html="<html><body><p>clicks</p></body></html>",
                text="clicks",
            )
            .returning(Issue.id)
        )
        send_id = session.scalar(
            insert(Send)
            .values(
                issue_id=issue_id,
                list_id=list_id,
                state=SendState.SENDING,
                click_tracking=True,
                started_at=dt.datetime.now(dt.UTC),
            )
            .returning(Send.id)
        )
        session.execute(
            insert(SendLink),
            [
                dict(send_id=send_id, position=n, url=url, section="trending")
                for n, url in enumerate(urls, 1)
            ],
        )
    return send_id


def click_token(
    send_id: int, position: int, handed_over: int | None = None, key: str = SECRET
) -> str:
    """The token a mail of that send carries for that link (handed over two hours ago unless
    said)."""
    when = int(time.time()) - LONG_AGO if handed_over is None else handed_over
    return make_click_token(key, ClickToken(send_id, position, when))


def counted(factory, send_id: int | None = None) -> Counter:
    """link_clicks summed over the hours: {(position, kind): clicks} (of one send, if given)."""
    query = select(LinkClicks.position, LinkClicks.kind, LinkClicks.clicks)
    if send_id is not None:
        query = query.where(LinkClicks.send_id == send_id)
    totals: Counter = Counter()
    with factory() as session:
        for position, kind, clicks in session.execute(query):
            totals[position, kind] += clicks
    return totals


def visitors(factory, send_id: int) -> Counter:
    """click_visitors: {position: distinct visitor hashes}."""
    with factory() as session:
        rows = session.execute(
            select(ClickVisitor.position).where(ClickVisitor.send_id == send_id)
        ).scalars()
        return Counter(rows)


def wait_for(read, expected, seconds: float = 20.0):
    """`read()` once it equals `expected` (the flusher writes about once a second), or its last
    value after `seconds`, for the caller's assertion to show."""
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.1)
