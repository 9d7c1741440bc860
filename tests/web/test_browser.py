"""A person in Chromium: fills the subscribe form, confirms, clicks the unsubscribe button. Screenshots
go to test-artifacts/. Skipped (with the reason) without Chromium, except in CI, where it fails."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.models import Subscriber, Subscription
from mailer.tokens import make_token

from ..conftest import REPO, SECRET
from .conftest import confirm_path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


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
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
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
        assert s.scalar(select(Subscription.status).where(Subscription.subscriber_id == sub_id)) == "pending"
    shot(page, "3-confirm-page")
    page.click("#confirm-button")
    assert "subscribed" in page.inner_text("#heading")
    with factory() as s:
        assert s.scalar(select(Subscription.status).where(Subscription.subscriber_id == sub_id)) == "confirmed"

    page.goto(live.url + f"/unsubscribe/{make_token(SECRET, 'unsubscribe', sub_id, 'ai-morning-post')}")
    shot(page, "4-unsubscribe-page")
    with factory() as s:
        assert s.scalar(select(Subscription.status).where(Subscription.subscriber_id == sub_id)) == "confirmed"
    page.click("#unsubscribe-button")
    assert "unsubscribed" in page.inner_text("#heading")
    assert shot(page, "5-unsubscribed").stat().st_size > 0
    with factory() as s:
        assert s.scalar(select(Subscription.status).where(Subscription.subscriber_id == sub_id)) == "unsubscribed"
    page.close()
