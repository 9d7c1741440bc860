"""The subscribe form is no relay and no oracle, through real HTTP: a GET of a confirmation link
changes
nothing, cross-site posts are refused, a list slug names a file in lists/ or nothing, and the answer
goes out before the confirmation mail does, which one long-lived transport sends."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller

from mailer.content.load import load_issue_for
from tests.archive.conftest import LIST as ARCHIVE_LIST
from tests.archive.conftest import send_started
from tests.conftest import DB_KINDS, REPO
from tests.send.test_smtp import free_port
from tests.web.conftest import SECOND_LIST, confirm_path, dump_tables
from tests.web.test_lifecycle_http import LIST, OTHER, status_of, subscribe

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


def test_get_of_a_confirmation_link_changes_nothing_and_the_post_confirms(live, factory, engine):
    assert subscribe(live, "grace@example.com").status_code == 200
    path = confirm_path(live.outbox()[-1])
    before = dump_tables(engine)
    for _ in range(2):  # a mail scanner, then the person
        page = live.get(path)
        assert page.status_code == 200 and page.text.count("<form") == 1
        assert (
            f'<form method="post" action="{path}">' in page.text
            and 'id="confirm-button"' in page.text
        )
        assert live.head(path).status_code == 200
    assert dump_tables(engine) == before
    assert status_of(factory, "grace@example.com") == "pending"

    confirmed = live.post(path)
    assert confirmed.status_code == 200 and "re subscribed" in confirmed.text
    assert status_of(factory, "grace@example.com") == "confirmed"


@pytest.mark.parametrize(
    "attack",
    [
        {"headers": {"Origin": "https://evil.example"}},
        {"headers": {"Origin": "null"}},
        {"headers": {"Origin": "null", "Sec-Fetch-Site": "cross-site"}},
        {"headers": {"Sec-Fetch-Site": "cross-site"}},
        {"headers": {"Sec-Fetch-Site": "same-site"}},
        {"headers": {"Origin": "https://evil.example", "Sec-Fetch-Site": "same-origin"}},
        {"drop": "form_token"},
        {"fields": {"form_token": "forged"}},
        {"other_list_token": True},
    ],
    ids=[
        "origin",
        "origin-null",
        "origin-null-cross-site",
        "fetch-cross-site",
        "fetch-same-site",
        "origin-with-same-origin-fetch",
        "no-form-token",
        "forged-form-token",
        "token-of-another-list",
    ],
)
def test_cross_site_posts_are_403_and_change_nothing(live, engine, attack):
    fields = live.form_fields(LIST)
    if attack.get("other_list_token"):
        fields["form_token"] = live.form_fields(OTHER)["form_token"]
    fields.pop(attack.get("drop", ""), None)
    fields.update(attack.get("fields", {}), email="victim@example.com", name="Victim")
    before = dump_tables(engine)
    response = live.post("/subscribe", data=fields, headers=attack.get("headers", {}))
    assert response.status_code == 403 and "subscribe form" in response.text
    assert (
        dump_tables(engine) == before
    )  # no subscriber, no consent event, not even a rate-limit hit
    assert live.outbox() == []


def test_a_post_from_our_own_page_passes(live, factory):
    response = subscribe(
        live, "ada@example.com", headers={"Origin": live.url, "Sec-Fetch-Site": "same-origin"}
    )
    assert response.status_code == 200 and status_of(factory, "ada@example.com") == "pending"
    assert [m["To"].addresses[0].addr_spec for m in live.outbox()] == ["ada@example.com"]


@pytest.fixture
def outside_list(lists_dir):
    """A valid list definition next to lists/, not in it: only a traversal could reach it."""
    path = lists_dir.parent / "outside.toml"
    path.write_text(SECOND_LIST.replace("weekend-digest", "outside"))
    return path


def hostile_slugs(outside) -> list[str]:
    return [
        "../outside",
        str(outside.with_suffix("")),
        "/etc/passwd",
        "..",
        "ai-morning-post/../ai-morning-post",
        "ai-morning-post\x00",
        "AI-MORNING-POST",
        "ai morning post",
        "ai-morning-post.toml",
        "ai-morning-post.sample",
        "m\u00f6rning",
        "x" * 300,
        "-ai-morning-post",
        "%2e%2e%2foutside",
    ]


def test_list_slugs_that_name_no_file_in_lists_are_404(live, outside_list, engine, factory):
    # the issue of 2026-11-18 is in the archive, so its 404s below come from the slug alone
    issue = load_issue_for(live.settings, ARCHIVE_LIST, "2026-11-18")
    send_started(factory, live.settings, issue, ARCHIVE_LIST)
    assert live.get(f"/archive/{LIST}/2026-11-18").status_code == 200
    fields = live.form_fields(LIST)
    before = dump_tables(engine)
    for slug in hostile_slugs(outside_list):
        codes = {
            "form": live.get("/subscribe", params={"list": slug}).status_code,
            "page": live.get(f"/subscribe/{quote(slug, safe='')}").status_code,
            "post": live.post(
                "/subscribe", data={**fields, "list": slug, "email": "t@example.com"}
            ).status_code,
            "archive": live.get(f"/archive/{quote(slug, safe='')}/2026-11-18").status_code,
        }
        assert set(codes.values()) == {404}, (slug, codes)
    assert dump_tables(engine) == before


class HeldSmtp:
    """An SMTP server that holds every message in DATA until released, and notes the connection."""

    def __init__(self):
        self.release = threading.Event()
        self.messages: list[tuple[int, bytes]] = []  # (connection, message)

    async def handle_DATA(self, server, session, envelope):
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 30)
        self.messages.append((id(session), envelope.content))
        return "250 Ok held"


@pytest.fixture
def held_smtp():
    handler = HeldSmtp()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    handler.release.set()
    controller.stop()


def test_the_answer_comes_before_the_mail_and_one_connection_serves_every_request(
    serve, held_smtp, factory
):
    smtp, port = held_smtp
    live = serve(settings_changes={"transport": f"smtp://127.0.0.1:{port}?timeout=10"})
    outbound = live.app.extensions["mailer"]["outbound"]
    response = subscribe(live, "first@example.com")
    # The SMTP server holds the mail: an answer that waited for it would never have come.
    assert response.status_code == 200 and "Check your inbox" in response.text
    assert smtp.messages == [] and status_of(factory, "first@example.com") == "pending"
    smtp.release.set()
    assert outbound.drain(30)
    assert subscribe(live, "second@example.com").status_code == 200
    assert outbound.drain(30)
    recipients = [
        email.message_from_bytes(raw, policy=email.policy.default)["To"].addresses[0].addr_spec
        for _, raw in smtp.messages
    ]
    assert recipients == ["first@example.com", "second@example.com"]
    assert len({connection for connection, _ in smtp.messages}) == 1  # one transport, kept open


@pytest.mark.parametrize(
    "transport, words",
    [
        ("smtp://mail.example:port", "MAILER_TRANSPORT"),
        ("smtp://mail.example:587", "MAILER_SMTP_PASSWORD"),
    ],
)
def test_serve_with_a_bad_mail_transport_stops_at_start_with_one_line(
    engine, database_url, tmp_path, transport, words
):
    """The web app's transport is built when it starts, not on the first confirmation mail."""
    from tests.cli.test_cli import mailer

    env = {
        "DATABASE_URL": database_url,
        "MAILER_TRANSPORT": transport,
        "MAILER_SMTP_USER": "user",
        "MAILER_LISTS_DIR": str(REPO / "lists"),
    }
    if words != "MAILER_SMTP_PASSWORD":
        env["MAILER_SMTP_PASSWORD"] = "secret"
    result = mailer(tmp_path, "serve", "--port", "0", env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert words in line, line


def test_the_old_form_address_redirects_to_the_canonical_one(live):
    for query, slug in (({"list": OTHER}, OTHER), ({}, LIST)):
        answer = live.get("/subscribe", params=query)
        assert answer.status_code == 302 and answer.headers["Location"].endswith(
            f"/subscribe/{slug}"
        )
    page = live.get(f"/subscribe/{OTHER}")
    assert page.status_code == 200 and "The Weekend Digest" in page.text


def test_a_form_older_than_a_day_is_refused(live, factory, engine, monkeypatch):
    import time

    import itsdangerous.timed

    real = time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() - 25 * 3600)
    stale = live.form_fields(
        LIST
    )  # the page is rendered in this process: its token is 25 hours old
    monkeypatch.undo()
    before = dump_tables(engine)
    answer = live.post("/subscribe", data={**stale, "email": "late@example.com"})
    assert answer.status_code == 403 and "more than a day" in answer.text
    assert dump_tables(engine) == before
