"""Welcome mails through real HTTP: a confirmation queues one row in the list's welcome send and the
web app's sender thread delivers it through the transport (the outbox), recorded in the ledger."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.store.models import (
    Delivery,
    DeliveryState,
    Issue,
    MailingList,
    Send,
    SendKind,
    SendState,
    utcnow,
)
from tests.conftest import DB_KINDS
from tests.web.conftest import confirm_path
from tests.web.test_lifecycle_http import subscribe, subscriber_id, unsub_path

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
LIST = "ai-morning-post"
WELCOME = '\n[welcome]\nenabled = true\nsubject = "Welcome aboard"\nintro = "Glad you came."\n'


@pytest.fixture
def welcoming(lists_dir):
    with open(lists_dir / f"{LIST}.toml", "a") as fh:
        fh.write(WELCOME)


def welcome_mails(live) -> list[email.message.EmailMessage]:
    live.outbox_files()  # drains the sender thread
    folder = Path(live.settings.outbox_dir) / LIST / "welcome"
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(folder.glob("*.eml"))
    ]


def welcome_rows(factory) -> list[tuple]:
    with factory() as s:
        return s.execute(
            select(Delivery.subscriber_id, Delivery.state, Delivery.provider_message_id)
            .join(Send, Send.id == Delivery.send_id)
            .where(Send.kind == SendKind.WELCOME)
            .order_by(Delivery.id)
        ).all()


def sent_issue(factory, headline: str = "Robots learn to fold laundry") -> None:
    """An issue of the list whose send has started: what the welcome shows as the latest."""
    with factory.begin() as s:
        list_id = s.scalar(select(MailingList.id).where(MailingList.slug == LIST))
        for day, title in (
            (dt.date(2026, 11, 19), "An older one"),
            (dt.date(2026, 11, 20), headline),
        ):
            issue = Issue(
                list_id=list_id,
                issue_date=day,
                subject=title,
                source_path="x.md",
                content_hash="0" * 64,
                html="<p>x</p>",
                text="x",
                headline=title,
                dek="Folding, at last.",
            )
            s.add(issue)
            s.flush()
            s.add(
                Send(issue_id=issue.id, list_id=list_id, state=SendState.DONE, started_at=utcnow())
            )


def pending(live, address: str) -> str:
    """Subscribe; the confirmation link's path."""
    assert subscribe(live, address).status_code == 200
    return confirm_path(live.outbox()[-1])


def test_confirming_sends_one_welcome_with_the_latest_issue_and_links(welcoming, live, factory):
    path = pending(live, "ada@example.com")
    sent_issue(factory)
    assert live.post(path).status_code == 200
    [mail] = welcome_mails(live)
    assert mail["Subject"] == "Welcome aboard"
    assert mail["To"].addresses[0].addr_spec == "ada@example.com"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    sub_id = subscriber_id(factory, "ada@example.com")
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Glad you came." in text and "Good" in text  # the intro and the greeting
    archive = f"{live.url}/archive/{LIST}/2026-11-20"
    assert "Robots learn to fold laundry" in html and archive in html and archive in text
    assert "An older one" not in html
    manage = re.search(r"(/manage/\S+)", text).group(1)
    assert live.get(manage).status_code == 200  # the personal manage link works
    unsubscribe = re.search(r"<(https?://[^>]+/unsubscribe/[^>]+)>", mail["List-Unsubscribe"])
    assert unsubscribe and unsubscribe.group(1) in text
    [(row_sub, state, provider_id)] = welcome_rows(factory)
    assert (row_sub, state) == (sub_id, DeliveryState.SENT) and provider_id
    assert live.get(unsub_path(sub_id)).status_code == 200


def test_a_list_that_has_sent_nothing_welcomes_without_an_issue(welcoming, live, factory):
    assert live.post(pending(live, "bo@example.com")).status_code == 200
    [mail] = welcome_mails(live)
    text = mail.get_body(("plain",)).get_content()
    assert "latest issue" not in text and "Glad you came." in text


def test_concurrent_confirms_send_exactly_one_welcome(welcoming, live, factory):
    path = pending(live, "cy@example.com")
    barrier = threading.Barrier(8)
    answers: list[int] = []

    def post():
        barrier.wait()
        answers.append(live.post(path).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [200] * 8
    assert len(welcome_mails(live)) == 1
    assert [state for _sub, state, _id in welcome_rows(factory)] == [DeliveryState.SENT]


def test_reconfirming_or_coming_back_sends_no_second_welcome(welcoming, live, factory):
    path = pending(live, "di@example.com")
    assert live.post(path).status_code == 200
    assert live.post(path).status_code == 200  # already confirmed: nothing new
    sub_id = subscriber_id(factory, "di@example.com")
    assert live.post(unsub_path(sub_id), data={"scope": "list"}).status_code == 200
    again = pending(live, "di@example.com")  # pending again, then confirmed again
    assert live.post(again).status_code == 200
    assert len(welcome_mails(live)) == 1
    assert len(welcome_rows(factory)) == 1


def test_no_welcome_when_the_list_does_not_enable_it(live, factory):
    assert live.post(pending(live, "ed@example.com")).status_code == 200
    assert welcome_mails(live) == []
    with factory() as s:
        assert s.scalar(select(func.count()).where(Send.kind == SendKind.WELCOME)) == 0


def test_two_lists_each_have_one_welcome_send(welcoming, lists_dir, live, factory):
    with open(lists_dir / "weekend-digest.toml", "a") as fh:
        fh.write(WELCOME)
    for address in ("f1@example.com", "f2@example.com"):
        assert live.post(pending(live, address)).status_code == 200
    assert subscribe(live, "f1@example.com", "weekend-digest").status_code == 200
    assert live.post(confirm_path(live.outbox()[-1])).status_code == 200
    live.outbox_files()
    with factory() as s:
        per_list = s.execute(
            select(Send.list_id, func.count(Delivery.id))
            .join(Delivery, Delivery.send_id == Send.id)
            .where(Send.kind == SendKind.WELCOME)
            .group_by(Send.list_id)
        ).all()
    assert sorted(count for _list, count in per_list) == [1, 2]
