"""The preference centre over real HTTP, from the manage link in the reader's own mail: each form
(name, pause and resume, daily or weekly, address, unsubscribe) changes its row once and records
one consent event, a repeat records nothing, a post without the page's form token or from
another site changes nothing; an address change goes only to the new address's owner and sends
keep going to the old address until they press the button; the export download is the document
`mailer subscribers show --json` prints; a mail scanner GETting every link changes nothing.
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import urlsplit

import lxml.html
import pytest
from sqlalchemy import select

from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.send.campaign import run_send
from mailer.store.models import ConsentEvent, Subscriber, Subscription
from mailer.transports import FileTransport
from tests.cli.test_cli import mailer
from tests.conftest import DB_KINDS, import_sample
from tests.web.conftest import dump_tables

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
SLUG = "ai-morning-post"
ADA, GRACE = "ada.lovelace@example.com", "grace.hopper@example.net"
NEW = "ada@analytical.example"


@pytest.fixture
def digest_lists(lists_dir):
    path = lists_dir / f"{SLUG}.toml"
    path.write_text(path.read_text() + '\n[digest]\nenabled = true\nday = "fri"\n')
    return lists_dir


def send_issue(live, factory, day: str) -> dict[str, str]:
    """`day`'s issue sent to the outbox; {recipient: the text part} of its messages."""
    list_def = load_list(live.settings.lists_dir, SLUG)
    content = load_issue_for(live.settings, list_def, day)
    transport = FileTransport(live.settings.outbox_dir)
    assert run_send(factory, live.settings, list_def, content, transport).state == "done"
    messages = {}
    for path in sorted((live.settings.outbox_dir / SLUG / day).glob("*.eml")):
        import email
        import email.policy

        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        messages[message["To"].addresses[0].addr_spec] = message.get_body(("plain",)).get_content()
    return messages


def manage_path(live, text: str) -> str:
    return urlsplit(re.search(re.escape(live.url) + r"/manage/\S+", text).group()).path


def forms(html: str) -> list[tuple[str, dict[str, str]]]:
    """Every form of a page as a browser would post it: (action path, fields with their values;
    a text field as filled in, the checked radio button)."""
    found = []
    for form in lxml.html.fromstring(html).iter("form"):
        fields = {}
        for field in form.iter("input"):
            kind, name = field.get("type", "text"), field.get("name")
            if name and (kind != "radio" or field.get("checked") is not None):
                fields[name] = field.get("value") or ""
        found.append((urlsplit(form.get("action")).path, fields))
    return found


def form(live, path: str, field: str, value: str | None = None) -> tuple[str, dict[str, str]]:
    """The form of the page at `path` holding `field` (with `value`, when given)."""
    page = live.get(path)
    assert page.status_code == 200, page.status_code
    for action, fields in forms(page.text):
        if field in fields and (value is None or fields[field] == value):
            return action, fields
    raise AssertionError(f"no form with {field}={value} on {path}")


def submit(live, path: str, field: str, value: str | None = None, **changes) -> str:
    action, fields = form(live, path, field, value)
    answer = live.post(action, data={**fields, **changes})
    assert answer.status_code == 200, (answer.status_code, answer.text)
    return answer.text


def events(factory, subscriber_id: int) -> list[tuple[str, str, str | None]]:
    with factory() as session:
        rows = session.execute(
            select(ConsentEvent.action, ConsentEvent.source, ConsentEvent.detail)
            .where(ConsentEvent.subscriber_id == subscriber_id, ConsentEvent.action != "import")
            .order_by(ConsentEvent.id)
        )
        return [tuple(row) for row in rows]


def person(factory, address: str) -> tuple[Subscriber, Subscription]:
    with factory() as session:
        return session.execute(
            select(Subscriber, Subscription)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscriber.email == address)
        ).one()


def test_each_form_changes_once_and_a_foreign_post_nothing(serve, digest_lists, engine, factory):
    live = serve()
    import_sample(factory)
    path = manage_path(live, send_issue(live, factory, "2026-11-20")[ADA])
    ada_id = person(factory, ADA)[0].id
    today = dt.datetime.now(dt.UTC).date()  # the list has no [schedule]: its dates are UTC

    action, fields = form(live, path, "name")
    before = dump_tables(engine)
    bare = {k: v for k, v in fields.items() if k != "form_token"}
    assert live.post(action, data={**bare, "name": "Countess"}).status_code == 403
    stale = {**fields, "form_token": fields["form_token"][:-2] + "xx", "name": "Countess"}
    assert live.post(action, data=stale).status_code == 403
    foreign = live.post(
        action, data={**fields, "name": "Countess"}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert dump_tables(engine) == before

    assert "we greet you as Ada King" in submit(live, path, "name", name="  Ada King ")
    submit(live, path, "name", name="Ada King")
    assert person(factory, ADA)[0].name == "Ada King"

    page = submit(live, path, "pause", "2")
    until = today + dt.timedelta(weeks=2)
    assert person(factory, ADA)[1].paused_until == until
    assert f"{until.day} {until:%B %Y}" in page and 'id="resume-button"' in page
    submit(live, path, "pause", "resume")
    assert person(factory, ADA)[1].paused_until is None
    action, fields = form(live, path, "pause", "1")
    assert live.post(action, data={**fields, "pause": "3"}).status_code == 400

    assert "weekly digest every Friday" in submit(live, path, "cadence", cadence="weekly")
    submit(live, path, "cadence", cadence="weekly")
    assert person(factory, ADA)[1].cadence == "weekly"
    action, fields = form(live, path, "cadence")
    assert fields["cadence"] == "weekly"  # the page shows the choice made
    assert live.post(action, data={**fields, "cadence": "hourly"}).status_code == 400

    assert "unsubscribed" in submit(live, path, "scope", "list")
    assert person(factory, ADA)[1].status == "unsubscribed"
    assert [(action, source) for action, source, _ in events(factory, ada_id)] == [
        ("name", "web"),
        ("pause", "web"),
        ("resume", "web"),
        ("cadence", "web"),
        ("unsubscribe", "web"),
    ]
    assert events(factory, ada_id)[1][2] == f"until {until.isoformat()} (2 weeks)"
    # unsubscribed: nothing left to pause or to choose
    page = live.get(path).text
    assert 'name="pause"' not in page and 'name="cadence"' not in page


def test_weekly_is_neither_offered_nor_taken_without_a_digest(live, factory):
    import_sample(factory)
    path = manage_path(live, send_issue(live, factory, "2026-11-20")[ADA])
    assert 'name="cadence"' not in live.get(path).text
    action, fields = form(live, path, "pause", "1")
    forged = {"form_token": fields["form_token"], "cadence": "weekly"}
    assert live.post(action, data=forged).status_code == 400
    assert person(factory, ADA)[1].cadence == "daily"


def address_link(live, to: str) -> str:
    mails = [
        m
        for m in live.outbox()
        if m["To"].addresses[0].addr_spec == to and "new address" in m["Subject"]
    ]
    assert len(mails) == 1, [m["To"] for m in live.outbox()]
    [mail] = mails
    assert mail["Subject"] == "Confirm your new address for The AI Morning Post"
    text = mail.get_body(("plain",)).get_content()
    assert ADA not in text and "Ada" not in text  # nothing of the requester
    return urlsplit(re.search(re.escape(live.url) + r"/address/\S+", text).group()).path


def test_an_address_change_waits_for_the_new_address(live, engine, factory):
    import_sample(factory)
    path = manage_path(live, send_issue(live, factory, "2026-11-20")[ADA])
    ada_id = person(factory, ADA)[0].id

    page = submit(live, path, "email", email="ada@Analytical.Example")
    assert "we sent a link to" in page
    link = address_link(live, NEW)  # the domain lower-cased
    before = dump_tables(engine)
    shown = live.get(link)
    assert shown.status_code == 200 and 'id="address-confirm-button"' in shown.text
    assert live.head(link).status_code == 200
    assert dump_tables(engine) == before
    # until the new address confirms, sends go to the old one
    assert set(send_issue(live, factory, "2026-11-21")) >= {ADA} and NEW not in send_issue(
        live, factory, "2026-11-21"
    )

    [(action, fields)] = forms(shown.text)
    assert live.post(action, data={}).status_code == 403  # without the form token
    done = live.post(action, data=fields)
    assert done.status_code == 200 and f"comes to {NEW}" in done.text
    again = live.post(action, data=fields)
    assert again.status_code == 200 and "Your address is changed" in again.text
    assert person(factory, NEW)[0].id == ada_id
    sent = send_issue(live, factory, "2026-11-22")
    assert NEW in sent and ADA not in sent
    assert [action for action, _, _ in events(factory, ada_id)] == [
        "address-request",
        "address-change",
    ]
    assert person(factory, NEW)[1].status == "confirmed"  # not a new subscription: no welcome


def test_an_address_someone_else_has_is_refused_at_the_button(live, factory):
    import_sample(factory)
    path = manage_path(live, send_issue(live, factory, "2026-11-20")[ADA])
    page = submit(live, path, "email", email=GRACE)
    assert "we sent a link to" in page  # the same answer: the page tells no one who is subscribed
    shown = live.get(address_link(live, GRACE))
    [(action, fields)] = forms(shown.text)
    refused = live.post(action, data=fields)
    assert refused.status_code == 409 and "subscription of its own" in refused.text
    assert person(factory, ADA)[0].email == ADA
    bad = live.post(action[:-3] + "abc", data=fields)
    assert bad.status_code == 400
    invalid = live.post(
        form(live, path, "email")[0],
        data={**form(live, path, "email")[1], "email": "not an address"},
    )
    assert invalid.status_code == 400 and "check the new address" in invalid.text


def test_the_export_is_what_show_json_prints(live, factory, database_url, tmp_path):
    import_sample(factory)
    path = manage_path(live, send_issue(live, factory, "2026-11-20")[ADA])
    submit(live, path, "pause", "1")
    page = live.get(path).text
    export_path = urlsplit(lxml.html.fromstring(page).get_element_by_id("export-link").get("href"))
    download = live.get(export_path.path)
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("application/json")
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="{SLUG}-my-data.json"'
    )
    assert download.headers["Cache-Control"] == "no-store"
    (tmp_path / "operator").mkdir()
    env = {"DATABASE_URL": database_url}
    shown = mailer(tmp_path / "operator", "subscribers", "show", ADA, "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(download.text) == json.loads(shown.stdout)
    document = json.loads(download.text)
    assert [e["action"] for e in document["consent"]] == ["import", "pause"]
    assert [d["date"] for d in document["deliveries"]] == ["2026-11-20"]
    assert live.get("/manage/not-a-token/export").status_code == 400


def test_a_scanner_following_every_link_changes_nothing(serve, digest_lists, engine, factory):
    live = serve()
    import_sample(factory)
    path = manage_path(live, send_issue(live, factory, "2026-11-20")[ADA])
    submit(live, path, "email", email=NEW)
    link = address_link(live, NEW)
    before = dump_tables(engine)
    page = live.get(path).text
    tree = lxml.html.fromstring(page)
    targets = {path, link} | {urlsplit(a.get("href")).path for a in tree.iter("a")}
    targets |= {action for action, _ in forms(page)}
    for target in sorted(targets):
        for method in (live.get, live.head):
            assert method(target).status_code in (200, 301, 302), target
        # a scanner that carries a form's fields in the query string
        for _, fields in forms(page):
            assert live.get(target, params=fields).status_code == 200
    assert dump_tables(engine) == before


def test_address_requests_share_the_subscribe_forms_rate_limit(serve, factory):
    live = serve(subscribe_limit=(2, 600.0))
    import_sample(factory)
    path = manage_path(live, send_issue(live, factory, "2026-11-20")[ADA])
    action, fields = form(live, path, "email")
    answers = [
        live.post(action, data={**fields, "email": f"ada{n}@new.example"}).status_code
        for n in range(3)
    ]
    assert answers == [200, 200, 429]
    asked = [m for m in live.outbox() if "new address" in m["Subject"]]
    assert sorted(m["To"].addresses[0].addr_spec for m in asked) == [
        "ada0@new.example",
        "ada1@new.example",
    ]


def test_what_the_reader_chose_is_what_the_next_sends_plan(serve, lists_dir, factory):
    """The planner (send/ledger.py) reads what the forms wrote: a paused reader gets no issue
    dated before the pause's end (these seed issues are all dated before it), a resumed one gets
    the next, a weekly reader no daily issue; an address change with [welcome] enabled sends no
    welcome mail (it confirms an address, not a subscription)."""
    path = lists_dir / f"{SLUG}.toml"
    path.write_text(path.read_text() + "\n[digest]\nenabled = true\n\n[welcome]\nenabled = true\n")
    live = serve()
    import_sample(factory)
    ada_path = manage_path(live, send_issue(live, factory, "2026-11-18")[ADA])
    grace_path = manage_path(live, send_issue(live, factory, "2026-11-19")[GRACE])
    submit(live, ada_path, "pause", "1")
    submit(live, grace_path, "cadence", cadence="weekly")
    sent = send_issue(live, factory, "2026-11-20")
    assert ADA not in sent and GRACE not in sent and len(sent) == 19
    submit(live, ada_path, "pause", "resume")
    submit(live, ada_path, "email", email=NEW)
    [(action, fields)] = forms(live.get(address_link(live, NEW)).text)
    assert live.post(action, data=fields).status_code == 200
    sent = send_issue(live, factory, "2026-11-21")
    assert NEW in sent and GRACE not in sent and len(sent) == 20
    assert not (live.settings.outbox_dir / SLUG / "welcome").exists()
