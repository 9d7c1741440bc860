"""The archive in Chromium, as a reader on a phone (375 px) and a desktop (1280 px), in light and
dark: no sideways scrolling, axe-core's WCAG 2 AA contrast with no violation, the issue page's
subscribe form landing on the hosted form with the address filled in, the index's search box, and
a rank anchor (#gh-1) scrolled into view. Screenshots go to test-artifacts/archive/. Skipped (with
the reason) without Chromium or axe-core, except in CI, where they fail (tests/contrast.py)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.archive.conftest import LIST, bulk_issues, seed_contents, send_started
from tests.conftest import REPO
from tests.contrast import SCHEMES, axe_violations, install_ratio

ARTIFACTS = REPO / "test-artifacts" / "archive"
SLUG = LIST.slug
WIDTHS = (375, 1280)
BULK = 25  # with the five seeds, two pages: the index shows its page links too

# What axe leaves out: each button's text against the button (tests/web/test_dark_mode_pages.py)
BUTTONS_JS = """() => [...document.querySelectorAll('button')].map(b => [
    b.textContent.trim(),
    window.__contrast.ratio(getComputedStyle(b).color, window.__contrast.background(b))])"""
IN_VIEW_JS = """(id) => {
    const el = document.getElementById(id);
    if (!el) return null;
    const box = el.getBoundingClientRect();
    return {top: box.top, bottom: box.bottom, height: innerHeight, y: scrollY};
}"""


@pytest.fixture
def archived(live, factory):
    """The five seed issues sent, after BULK small ones; the seeds' contents."""
    bulk_issues(factory, BULK, dt.date(2026, 1, 1))
    contents = seed_contents()
    for content in contents:
        send_started(factory, live.settings, content)
    return contents


def pages_of(live, archived) -> dict[str, str]:
    middle = archived[2]  # an issue with neighbours on both sides: the bar's longest line
    return {
        "index": f"{live.url}/archive/{SLUG}/",
        "issue": f"{live.url}/archive/{SLUG}/{middle.date}",
    }


def shot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_no_sideways_scroll_and_aa_contrast(browser, axe, live, archived, width, scheme):
    # bypass_csp: the pages' Content-Security-Policy forbids inline scripts, axe-core's included
    page = browser.new_page(
        viewport={"width": width, "height": 900}, color_scheme=scheme, bypass_csp=True
    )
    problems: dict[str, list[str]] = {}
    for name, url in pages_of(live, archived).items():
        assert page.goto(url).status == 200, url
        shot(page, f"{name}-{width}-{scheme}")
        found = []
        scroll, inner = page.evaluate(
            "() => [document.scrollingElement.scrollWidth, window.innerWidth]"
        )
        if scroll > inner:
            wide = page.evaluate(
                """(w) => [...document.querySelectorAll('body *')]
                    .filter(e => e.getBoundingClientRect().right > w)
                    .slice(0, 5).map(e => e.tagName + '.' + e.className)""",
                inner,
            )
            found.append(f"scrolls sideways: {scroll} px wide in {inner} px ({wide})")
        found += [
            f"{v['id']}: {v['nodes']}"
            for v in axe_violations(page, axe)
            if v["id"] == "color-contrast"
        ]
        install_ratio(page)
        found += [
            f"button {label!r} text {ratio:.2f}:1"
            for label, ratio in page.evaluate(BUTTONS_JS)
            if ratio < 4.5
        ]
        if found:
            problems[name] = found
    page.close()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


@pytest.mark.parametrize("width", WIDTHS)
def test_the_subscribe_form_of_an_issue_page_leads_to_the_hosted_form(
    browser, live, archived, width
):
    page = browser.new_page(viewport={"width": width, "height": 900})
    address = "zoe+archive@example.com"  # a "+" must survive the query string
    page.goto(pages_of(live, archived)["issue"])
    page.fill("#archive-email", address)
    with page.expect_navigation():
        page.click("#subscribe button[type=submit]")
    landed = urlsplit(page.url)
    assert landed.path == f"/subscribe/{SLUG}"
    assert parse_qs(landed.query) == {"email": [address]}
    assert page.input_value("#email") == address  # the hosted form, filled in
    shot(page, f"subscribe-from-issue-{width}")
    page.click("#subscribe-button")  # and its own button posts it, form token and all
    assert "Check your inbox" in page.inner_text("#heading")
    [mail] = live.outbox()
    assert mail["To"].addresses[0].addr_spec == address
    page.close()


def test_an_address_the_browser_refuses_stays_on_the_issue_page(browser, live, archived):
    page = browser.new_page()
    url = pages_of(live, archived)["issue"]
    page.goto(url)
    page.fill("#archive-email", "not an address")
    page.click("#subscribe button[type=submit]")
    assert page.url == url  # type=email: the browser's own check, nothing sent
    assert page.evaluate("document.getElementById('archive-email').validity.valid") is False
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_search_box_shows_the_matching_issues(browser, live, archived, width):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(pages_of(live, archived)["index"])
    page.fill("#q", "marker7x")  # the text of bulk issue 7 alone
    with page.expect_navigation():
        page.press("#q", "Enter")
    assert parse_qs(urlsplit(page.url).query) == {"q": ["marker7x"]}
    assert page.locator("article.issue h2 a").all_inner_texts() == ["Issue 7: quantum"]
    assert page.inner_text("#result-count").startswith("1 issue found.")
    shot(page, f"search-{width}")
    word = archived[1].headline.split()[1]
    page.fill("#q", word)
    with page.expect_navigation():
        page.click("form[role=search] button[type=submit]")
    assert archived[1].headline in page.locator("article.issue h2 a").all_inner_texts()
    assert page.input_value("#q") == word
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_a_rank_anchor_scrolls_to_its_entry(browser, live, archived, width):
    page = browser.new_page(viewport={"width": width, "height": 700})
    page.goto(pages_of(live, archived)["issue"] + "#gh-1")
    page.wait_for_function("() => document.readyState === 'complete'")
    box = page.evaluate(IN_VIEW_JS, "gh-1")
    assert box is not None, "no element with id gh-1"
    assert box["y"] > 0  # the entry is far down the page: the browser scrolled to it
    assert 0 <= box["top"] < box["height"] and box["bottom"] > 0, box
    shot(page, f"anchor-gh-1-{width}", full_page=False)  # what the reader sees on arrival
    page.close()
