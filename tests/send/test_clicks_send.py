"""Sends with click tracking ([analytics] clicks): to the file outbox and to an SMTP server, every
message read back by two MIME parsers, every counted link decoded and mapped through send_links to
exactly the link the untracked render has there; readers with plain links get the render as it is;
`mailer send --no-click-tracking` and its refusal on a resumed send."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html as html_lib
import shutil
import uuid
from collections import defaultdict

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, update

from mailer.config import parse_smtp_url
from mailer.content.load import load_issue_for
from mailer.render.click_links import (
    ClickRewrite,
    content_links,
    html_spans,
    rewrite,
    text_spans,
)
from mailer.render.issue import render_issue
from mailer.send.campaign import SendOptions, run_send
from mailer.send.message import MessageSkeleton, Recipient, build_message, personal_values
from mailer.store.db import transaction
from mailer.store.models import Delivery, Send, SendLink, Subscriber
from mailer.transports import FileTransport
from mailer.transports.smtp import SmtpTransport
from tests.conftest import DB_KINDS, REPO, SECRET
from tests.render.test_message_fast_path import summary
from tests.send.clicks import (
    check_counted,
    check_written,
    counted_re,
    counting,
    decode,
    read,
    send_record,
    with_hostile_links,
)
from tests.send.conftest import ISSUE, LIST
from tests.send.helpers import mailer_env, run
from tests.send.smtpserver import free_port

BASE = "https://news.example"
PLAIN_READER = "grace.hopper@example.net"
CLICKS = counting(LIST)


def set_plain_links(factory, address: str) -> None:
    with transaction(factory) as session:
        session.execute(
            update(Subscriber).where(Subscriber.email == address).values(plain_links=True)
        )


def outbox_messages(folder) -> list:
    return [read(path.read_bytes()) for path in sorted(folder.rglob("*.eml"))]


def check_send(factory, messages, content) -> None:
    """Every message of the send: counted links mapped back, or the links as written for the
    plain-links reader; messages of the same second carry the same tokens (they name nobody)."""
    record = send_record(factory, CLICKS.slug, content.date)
    assert record.click_tracking and record.links
    by_second = defaultdict(set)
    for message in messages:
        if message.to == PLAIN_READER:
            check_written(record, message, BASE)
        else:
            by_second[message.second].add(tuple(check_counted(record, message, BASE)))
    assert all(len(tokens) == 1 for tokens in by_second.values()), "tokens differ per reader"
    assert any(len([m for m in messages if m.second == s]) > 2 for s in by_second)


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_counted_links_to_the_outbox_lead_to_exactly_the_links_of_the_render(
    factory, settings, sample_list
):
    set_plain_links(factory, PLAIN_READER)
    content = with_hostile_links(load_issue_for(settings, LIST, ISSUE))
    summary_ = run_send(factory, settings, CLICKS, content, FileTransport(settings.outbox_dir))
    assert summary_.counts == {"sent": 21}
    messages = outbox_messages(settings.outbox_dir)
    assert len(messages) == 21 and PLAIN_READER in {m.to for m in messages}
    check_send(factory, messages, content)
    record = send_record(factory, CLICKS.slug, content.date)
    urls = [record.links[p][0] for p in sorted(record.links)]
    sections = [record.links[p][1] for p in sorted(record.links)]
    # ours is not counted; a URL written twice has two positions; sections in document order
    assert not any(url.startswith(BASE) for url in urls)
    assert urls.count(content.github_repos[0].url) == 2
    assert sections == sorted(sections, key=["tools", "huggingface", "github", "reading"].index)
    assert {"tools", "huggingface", "github", "reading"} == set(sections)
    # the text part names the first position of a URL written twice
    reader = next(m for m in messages if m.to != PLAIN_READER)
    twice = [
        decode(t).position
        for t in counted_re(BASE).findall(reader.text)
        if urls[decode(t).position - 1] == content.github_repos[0].url
    ]
    assert twice and set(twice) == {urls.index(content.github_repos[0].url) + 1}


class Accepting:
    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return f"250 Ok {uuid.uuid4().hex}"


def test_counted_links_over_smtp_lead_to_exactly_the_links_of_the_render(
    factory, settings, sample_list
):
    set_plain_links(factory, PLAIN_READER)
    recorder = Accepting()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    transport = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{controller.port}?timeout=5"))
    content = load_issue_for(settings, LIST, "2026-11-22")  # its call to action is elsewhere
    try:
        result = run_send(
            factory, settings, CLICKS, content, transport, SendOptions(rate=500.0, concurrency=4)
        )
    finally:
        transport.close()
        controller.stop()
    assert result.counts == {"sent": 21} and len(recorder.messages) == 21
    messages = []
    for rcpts, raw in recorder.messages:
        message = read(raw)
        assert rcpts == [message.to]
        messages.append(message)
    check_send(factory, messages, content)
    record = send_record(factory, CLICKS.slug, content.date)
    assert record.links[max(record.links)] == ("https://aimorningpost.example/telegram", "join")


def test_two_readers_in_the_same_second_get_the_same_tokens_and_plain_readers_none(settings):
    content = with_hostile_links(load_issue_for(settings, LIST, ISSUE))
    rendered = render_issue(content, CLICKS, BASE)
    links = content_links(rendered.html, BASE)
    planned = [(link.position, link.url) for link in links]
    clicks = ClickRewrite.for_send(rendered, BASE, SECRET, 41, planned)
    skeleton = MessageSkeleton(rendered, CLICKS, 41, clicks)
    date = dt.datetime(2026, 11, 20, 6, 30, 5, tzinfo=dt.UTC)

    def recipient(i: int, plain: bool = False) -> Recipient:
        return Recipient(
            i,
            f"reader{i}@example.com",
            f"Reader {i}",
            f"{BASE}/unsubscribe/u{i}",
            f"{BASE}/manage/m{i}",
            f"mailto:unsubscribe@aimorningpost.example?subject=u{i}",
            f"<{i:032x}@aimorningpost.example>",
            plain_links=plain,
        )

    first, second = (read(skeleton.message(recipient(i), date=date)) for i in (1, 2))
    pattern = counted_re(BASE)
    tokens = pattern.findall(first.html)
    assert tokens == pattern.findall(second.html) and len(tokens) == len(links)
    clicks_read = [decode(t) for t in tokens]
    assert [(c.send_id, c.position) for c in clicks_read] == [(41, p) for p in clicks.positions]
    assert {c.handed_over for c in clicks_read} == {int(date.timestamp())}
    later = read(skeleton.message(recipient(1), date=date + dt.timedelta(seconds=1)))
    assert set(pattern.findall(later.html)).isdisjoint(tokens)
    plain = read(skeleton.message(recipient(3, plain=True), date=date))
    assert f"{BASE}/r/" not in plain.raw.decode("ascii", "replace")

    # The fast path equals EmailMessage built from the render with its links rewritten the
    # obvious way (each span replaced), for a counted and for a plain-links reader.
    def url(position: int) -> str:
        return clicks.url(position, int(date.timestamp()))

    for r, counted in ((recipient(1), True), (recipient(3, plain=True), False)):
        html, text = rendered.html, rendered.text
        if counted:
            html = rewrite(html, html_spans(links), lambda p: html_lib.escape(url(p)))
            text = rewrite(text, text_spans(text, links), url)
        obvious = dataclasses.replace(rendered, html=html, text=text)
        html, text = obvious.personalize(personal_values(r))
        baseline = build_message(
            subject=rendered.subject,
            html=html,
            text=text,
            list_def=CLICKS,
            send_id=41,
            recipient=r,
            date=date,
        )
        assert summary(skeleton.message(r, date=date)) == summary(baseline)


@pytest.fixture
def counting_lists(tmp_path):
    folder = tmp_path / "lists-counting"
    folder.mkdir()
    shutil.copy(REPO / "lists" / "ai-morning-post.sample.csv", folder)
    toml = (REPO / "lists" / "ai-morning-post.toml").read_text()
    (folder / "ai-morning-post.toml").write_text(toml + "\n[analytics]\nclicks = true\n")
    return folder


def send_row(factory, send_date: str):
    from mailer.store.models import Issue

    with factory() as session:
        send = session.scalar(
            select(Send)
            .join(Issue, Issue.id == Send.issue_id)
            .where(Issue.issue_date == dt.date.fromisoformat(send_date))
        )
        links = session.scalar(
            select(func.count()).select_from(SendLink).where(SendLink.send_id == send.id)
        )
        sent = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.send_id == send.id, Delivery.state == "sent")
        )
        return send.click_tracking, links, sent


def test_no_click_tracking_and_its_refusal_on_a_send_planned_with_counted_links(
    database_url, engine, factory, sample_list, counting_lists, tmp_path
):
    outbox = tmp_path / "outbox"
    env = mailer_env(
        database_url,
        "http://127.0.0.1:9",
        MAILER_TRANSPORT="file",
        MAILER_OUTBOX=str(outbox),
        MAILER_LISTS_DIR=str(counting_lists),
    )
    # a send planned with --no-click-tracking: links as written, no send_links
    dry = run(env, "send", "--issue", "2026-11-21", "--dry-run", "--no-click-tracking")
    assert dry.returncode == 0 and "links as written (no click tracking)" in dry.stdout
    plain = run(env, "send", "--issue", "2026-11-21", "--yes", "--no-click-tracking")
    assert plain.returncode == 0, plain.stderr
    assert send_row(factory, "2026-11-21") == (False, 0, 21)
    record = send_record(factory, CLICKS.slug, dt.date(2026, 11, 21))
    day = outbox / "ai-morning-post" / "2026-11-21"
    for message in outbox_messages(day):
        check_written(record, message, BASE)
    # a canary with counted links; the flag on its resume is refused, nothing more is sent
    dry = run(env, "send", "--issue", "2026-11-22", "--dry-run")
    assert "8 links counted (click tracking)" in dry.stdout, dry.stdout
    canary = run(env, "send", "--issue", "2026-11-22", "--yes", "--limit", "3")
    assert canary.returncode == 0 and "CANARY" in canary.stdout, canary.stderr
    refused = run(env, "send", "--issue", "2026-11-22", "--yes", "--no-click-tracking")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().count("\n") == 0
    assert "planned with click tracking" in refused.stderr
    assert "rerun without --no-click-tracking" in refused.stderr
    again = run(env, "send", "--issue", "2026-11-22", "--dry-run", "--no-click-tracking")
    assert again.returncode == 1 and "planned with click tracking" in again.stderr
    assert send_row(factory, "2026-11-22") == (True, 8, 3)
    rest = run(env, "send", "--issue", "2026-11-22", "--yes")
    assert rest.returncode == 0, rest.stderr
    assert send_row(factory, "2026-11-22") == (True, 8, 21)
    record = send_record(factory, CLICKS.slug, dt.date(2026, 11, 22))
    messages = outbox_messages(outbox / "ai-morning-post" / "2026-11-22")
    assert len(messages) == 21
    for message in messages:
        check_counted(record, message, BASE)
    # the list's clicks = false: a send planned without counted links, the flag changes nothing
    (counting_lists / "ai-morning-post.toml").write_text(
        (REPO / "lists" / "ai-morning-post.toml").read_text()
    )
    off = run(env, "send", "--issue", "2026-11-20", "--yes")
    assert off.returncode == 0, off.stderr
    assert send_row(factory, "2026-11-20") == (False, 0, 21)
