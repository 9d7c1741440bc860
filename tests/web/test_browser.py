"""A person in Chromium: fills the subscribe form, confirms with the button of the confirmation
page, clicks the unsubscribe button; reads an archive page, QR code included; renames, pauses and
chooses the weekly digest in the preference centre. Screenshots go to test-artifacts/. Skipped
(with the reason) without Chromium, except in CI, where it fails."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.send.campaign import run_send
from mailer.store.models import ConsentEvent, Subscriber, Subscription
from mailer.tokens import make_token
from mailer.transports import FileTransport
from tests.conftest import REPO, SECRET, import_sample
from tests.contrast import CHROMIUM_ARGS
from tests.web.conftest import confirm_path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def browser():
    missing = None
    if CHROMIUM is None:
        missing = "Chromium is not installed (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            missing = "playwright is not installed (pip install playwright)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run in CI: {missing}")
        pytest.skip(missing)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"web-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_a_person_subscribes_confirms_and_unsubscribes(browser, live, factory):
    page = browser.new_page()
    page.goto(live.url + "/subscribe")
    page.fill("#email", "zoe@example.com")
    page.fill("#name", "Zoë <b>")
    shot(page, "1-subscribe-form")
    page.click("#subscribe-button")
    assert "Check your inbox" in page.inner_text("#heading")
    shot(page, "2-check-inbox")

    page.goto(live.url + confirm_path(live.outbox()[-1]))
    assert "Confirm" in page.inner_text("#heading")
    with factory() as s:
        sub_id = s.scalar(select(Subscriber.id).where(Subscriber.email == "zoe@example.com"))
        assert (
            s.scalar(select(Subscription.status).where(Subscription.subscriber_id == sub_id))
            == "pending"
        )
    shot(page, "3-confirm-page")
    page.click("#confirm-button")
    assert "subscribed" in page.inner_text("#heading")
    with factory() as s:
        assert (
            s.scalar(select(Subscription.status).where(Subscription.subscriber_id == sub_id))
            == "confirmed"
        )

    page.goto(
        live.url + f"/unsubscribe/{make_token(SECRET, 'unsubscribe', sub_id, 'ai-morning-post')}"
    )
    shot(page, "4-unsubscribe-page")
    with factory() as s:
        assert (
            s.scalar(select(Subscription.status).where(Subscription.subscriber_id == sub_id))
            == "confirmed"
        )
    page.click("#unsubscribe-button")
    assert "unsubscribed" in page.inner_text("#heading")
    assert shot(page, "5-unsubscribed").stat().st_size > 0
    with factory() as s:
        assert (
            s.scalar(select(Subscription.status).where(Subscription.subscriber_id == sub_id))
            == "unsubscribed"
        )
    page.close()


# Chromium reports a blocked resource on the console and as a securitypolicyviolation event.
RECORD_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""


def test_the_archive_page_shows_its_qr_code(browser, live, factory):
    list_def = load_list(live.settings.lists_dir, "ai-morning-post")
    content = load_issue_for(
        live.settings, list_def, str(REPO / "issues" / "ai-morning-post" / "2026-11-18.md")
    )
    assert (
        run_send(
            factory, live.settings, list_def, content, FileTransport(live.settings.outbox_dir)
        ).state
        == "done"
    )
    page = browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.add_init_script(RECORD_CSP)
    assert page.goto(f"{live.url}/archive/ai-morning-post/{content.date}").status == 200
    qr = page.locator('img[alt^="QR code"]')
    assert qr.count() == 1 and qr.get_attribute("src").startswith("data:image/png;base64,")
    assert qr.evaluate("img => img.complete && img.naturalWidth") > 0
    shot(page, "6-archive-qr")
    assert page.evaluate("window.__csp") == []
    assert [
        line
        for line in console
        if "Content Security Policy" in line or "Content-Security-Policy" in line
    ] == []
    page.close()


def test_a_reader_renames_pauses_and_chooses_the_digest(browser, serve, lists_dir, factory):
    """The preference centre in Chromium, from the reader's manage link: each button posts its
    form (with the page's form token, and Chromium's own Origin and Sec-Fetch-Site) and the page
    comes back saying what changed; the rows and the consent events say the same."""
    path = lists_dir / "ai-morning-post.toml"
    path.write_text(path.read_text() + '\n[digest]\nenabled = true\nday = "sun"\n')
    live = serve()
    import_sample(factory)
    with factory() as s:
        ada = s.scalar(select(Subscriber.id).where(Subscriber.email == "ada.lovelace@example.com"))
    page = browser.new_page()
    page.goto(live.url + f"/manage/{make_token(SECRET, 'manage', ada, 'ai-morning-post')}")
    assert page.input_value("#name") == "Ada Lovelace"
    assert page.is_checked("#cadence-daily")
    shot(page, "6-manage")

    page.fill("#name", "Ada King")
    page.click("#name-button")
    assert page.inner_text("#notice") == "Saved: we greet you as Ada King."
    page.click("#pause-2-button")
    assert "Paused: The AI Morning Post starts again on" in page.inner_text("#notice")
    assert page.locator("#resume-button").is_visible()
    page.check("#cadence-weekly")
    page.click("#cadence-button")
    assert "weekly digest every Sunday" in page.inner_text("#notice")
    assert page.is_checked("#cadence-weekly")
    assert shot(page, "7-manage-saved").stat().st_size > 0
    page.close()

    with factory() as s:
        person, sub = s.execute(
            select(Subscriber, Subscription)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscriber.id == ada)
        ).one()
        actions = s.execute(
            select(ConsentEvent.action, ConsentEvent.source, ConsentEvent.user_agent)
            .where(ConsentEvent.subscriber_id == ada, ConsentEvent.action != "import")
            .order_by(ConsentEvent.id)
        ).all()
    assert person.name == "Ada King" and sub.cadence == "weekly"
    assert sub.paused_until == dt.datetime.now(dt.UTC).date() + dt.timedelta(weeks=2)
    assert [(a, s) for a, s, _ in actions] == [
        ("name", "web"),
        ("pause", "web"),
        ("cadence", "web"),
    ]
    assert all("Chrome" in agent for _, _, agent in actions)
