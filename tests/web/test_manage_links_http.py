"""A reader chooses plain links in /manage, over real HTTP, from the link in their own mail: the
GET shows the choice and what is counted and changes nothing, the POST is recorded as a consent
event, and the next send gives that reader the links as written while the others' are counted;
choosing counted links again takes effect the same way. (The page's other forms:
test_preference_centre_http.py.) The archive page and /manage say what is
counted only where the list counts clicks."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from urllib.parse import urlsplit

import lxml.html
import pytest
from sqlalchemy import select

from mailer.archive.pages import COUNTING
from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.send.campaign import run_send
from mailer.store.models import ConsentEvent, Subscriber
from mailer.transports import FileTransport
from tests.conftest import DB_KINDS, import_sample
from tests.send.clicks import check_counted, check_written, read, send_record
from tests.web.conftest import dump_tables

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
SLUG = "ai-morning-post"
ADA = "ada.lovelace@example.com"
PLAIN_BUTTON = "Send me plain links, do not count my clicks"


@pytest.fixture
def counting_lists(lists_dir):
    path = lists_dir / f"{SLUG}.toml"
    path.write_text(path.read_text() + "\n[analytics]\nclicks = true\n")
    return lists_dir


def send_issue(live, day: str) -> list:
    """`day`'s issue sent to the outbox with the live server's settings; its messages, read."""
    list_def = load_list(live.settings.lists_dir, SLUG)
    content = load_issue_for(live.settings, list_def, day)
    transport = FileTransport(live.settings.outbox_dir)
    assert run_send(live.factory, live.settings, list_def, content, transport).counts == {
        "sent": 21
    }
    folder = live.settings.outbox_dir / SLUG / day
    return [read(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]


def check_issue(live, day: str, plain: set[str]) -> None:
    messages = send_issue(live, day)
    record = send_record(live.factory, SLUG, dt.date.fromisoformat(day))
    assert record.click_tracking
    assert {m.to for m in messages} >= plain
    for message in messages:
        check = check_written if message.to in plain else check_counted
        check(record, message, live.url)


def manage_path(live, day: str, address: str) -> str:
    folder = live.settings.outbox_dir / SLUG / day
    for path in folder.glob("*.eml"):
        message = read(path.read_bytes())
        if message.to == address:
            url = re.search(re.escape(live.url) + r"/manage/\S+", message.text).group()
            return urlsplit(url).path
    raise AssertionError(f"no message to {address}")


def links_form(page_html: str) -> tuple[str, dict[str, str]]:
    """(action, fields) of the page's links form, as a browser would post it."""
    tree = lxml.html.fromstring(page_html)
    for form in tree.iter("form"):
        fields = {i.get("name"): i.get("value") for i in form.iter("input") if i.get("name")}
        if "links" in fields:
            return urlsplit(form.get("action")).path, fields
    raise AssertionError("no links form on the page")


def plain_links(factory, address: str) -> bool:
    with factory() as session:
        return session.scalar(select(Subscriber.plain_links).where(Subscriber.email == address))


def link_events(factory) -> list[tuple[str, str, str | None, bool]]:
    with factory() as session:
        rows = session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.action.in_(("plain-links", "counted-links")))
            .order_by(ConsentEvent.id)
        )
        return [(e.action, e.source, e.ip, e.list_id is not None) for e in rows]


def test_plain_links_chosen_in_manage_apply_to_the_next_send_and_back(
    serve, counting_lists, engine, factory
):
    live = serve()
    live.factory = factory
    import_sample(factory)
    check_issue(live, "2026-11-20", plain=set())
    path = manage_path(live, "2026-11-20", ADA)

    before = dump_tables(engine)
    page = live.get(path)
    scanner = live.get(path, params={"links": "plain"})  # a GET, whatever it carries
    assert page.status_code == 200 and scanner.status_code == 200
    assert dump_tables(engine) == before
    assert COUNTING in page.text and PLAIN_BUTTON in page.text
    action, fields = links_form(page.text)
    assert action == path and fields == {"links": "plain", "form_token": fields["form_token"]}

    chosen = live.post(action, data=fields, headers={"User-Agent": "reader-browser"})
    assert chosen.status_code == 200 and "links as written" in chosen.text
    assert "Use counted links again" in chosen.text and plain_links(factory, ADA)
    again = live.post(action, data=fields)  # the same choice again records nothing new
    assert again.status_code == 200
    assert link_events(factory) == [("plain-links", "web", "127.0.0.1", True)]
    bogus = live.post(action, data={**fields, "links": "everything"})
    assert bogus.status_code == 400 and plain_links(factory, ADA)
    assert live.post("/manage/not-a-token", data=fields).status_code == 400

    check_issue(live, "2026-11-21", plain={ADA})
    # back to counted links, from the page's own form
    action, fields = links_form(live.get(path).text)
    assert fields["links"] == "counted"
    assert live.post(action, data=fields).status_code == 200 and not plain_links(factory, ADA)
    assert [e[0] for e in link_events(factory)] == ["plain-links", "counted-links"]
    check_issue(live, "2026-11-22", plain=set())

    archive = live.get(f"/archive/{SLUG}/2026-11-22")
    assert archive.status_code == 200
    statement = lxml.html.fromstring(archive.text).get_element_by_id("click-counting")
    assert statement.text_content().strip() == COUNTING


def test_without_clicks_no_statement_and_no_choice(serve, lists_dir, tmp_path, engine, factory):
    plain_dir = tmp_path / "lists-plain"
    shutil.copytree(lists_dir, plain_dir)
    counting = lists_dir / f"{SLUG}.toml"
    counting.write_text(counting.read_text() + "\n[analytics]\nclicks = true\n")
    off = serve(settings_changes={"lists_dir": plain_dir})
    off.factory = factory
    import_sample(factory)
    record_day = "2026-11-20"
    send_issue(off, record_day)
    assert not send_record(factory, SLUG, dt.date.fromisoformat(record_day)).click_tracking
    path = manage_path(off, record_day, ADA)
    page = off.get(path)
    assert page.status_code == 200 and COUNTING not in page.text and PLAIN_BUTTON not in page.text
    archive = off.get(f"/archive/{SLUG}/{record_day}")
    assert archive.status_code == 200 and COUNTING not in archive.text
    # the same database served with the list counting clicks: both pages say so
    on = serve()
    assert COUNTING in on.get(path).text
    assert COUNTING in on.get(f"/archive/{SLUG}/{record_day}").text
