"""Every page a visitor can reach is readable in both colour schemes: Chromium with
prefers-color-scheme light and dark, axe-core's WCAG 2 AA rules with no contrast violation, and each
button's text and the masthead rule measured from the computed styles. Screenshots go to
test-artifacts/web-contrast/."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.store.models import Subscriber
from mailer.tokens import make_token
from tests.archive.conftest import send_started
from tests.conftest import REPO, SECRET, import_sample
from tests.contrast import SCHEMES, axe_violations, install_ratio
from tests.web.conftest import confirm_path

ARTIFACTS = REPO / "test-artifacts" / "web-contrast"
LIST = load_list(REPO / "lists", "ai-morning-post")
ARCHIVED = "2026-11-19"

MEASURE_JS = """() => {
    const c = window.__contrast;
    const header = document.querySelector('header');
    return {
        buttons: [...document.querySelectorAll('button')].map(b =>
            [b.textContent.trim(), c.ratio(getComputedStyle(b).color, c.background(b))]),
        rule: header
            ? c.ratio(getComputedStyle(header).borderBottomColor, c.background(header)) : null,
        desk: c.background(document.body),
        paper: document.querySelector('main') ? c.background(document.querySelector('main')) : null,
    };
}"""


def check(page, axe, name: str, scheme: str, problems: dict) -> None:
    """axe and the measured ratios of the page as it is now; what fails goes into problems[name]."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{scheme}.png"), full_page=True)
    found = [
        f"{v['id']}: {v['nodes']}" for v in axe_violations(page, axe) if v["id"] == "color-contrast"
    ]
    install_ratio(page)
    measured = page.evaluate(MEASURE_JS)
    found += [
        f"button {label!r} text {ratio:.2f}:1"
        for label, ratio in measured["buttons"]
        if ratio < 4.5
    ]
    if measured["rule"] is not None and measured["rule"] < 3:
        found.append(f"masthead rule {measured['rule']:.2f}:1")
    if measured["paper"] is not None and measured["paper"] == measured["desk"]:
        found.append(f"desk and paper are both {measured['desk']}")
    if found:
        problems[name] = found


@pytest.fixture
def lists_dir(lists_dir):
    """The list counting clicks: /manage and the archive page then say what is counted, and
    /manage offers plain links (the pages' longest form)."""
    path = lists_dir / f"{LIST.slug}.toml"
    path.write_text(path.read_text() + "\n[analytics]\nclicks = true\n")
    return lists_dir


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_page_passes_wcag_aa_contrast(browser, axe, live, factory, scheme):
    # the archived issue: stored and its send started, as `mailer send` does (the archive shows
    # only issues whose send has started, or marked public)
    send_started(factory, live.settings, load_issue_for(live.settings, LIST, ARCHIVED), LIST)
    # bypass_csp: the pages' Content-Security-Policy forbids inline scripts, axe-core's included
    page = browser.new_page(color_scheme=scheme, bypass_csp=True)
    problems: dict[str, list[str]] = {}

    def visit(name: str, path: str, status: int = 200) -> None:
        assert page.goto(live.url + path).status == status, path
        check(page, axe, name, scheme, problems)

    visit("subscribe", "/subscribe")
    visit("subscribe-slug", f"/subscribe/{LIST.slug}")
    page.goto(live.url + "/subscribe")
    page.fill("#email", "not an address")
    page.eval_on_selector(
        "#email", "e => e.type = 'text'"
    )  # past the browser's own check: the server's error
    page.click("#subscribe-button")
    check(page, axe, "subscribe-error", scheme, problems)
    page.goto(live.url + "/subscribe")
    page.fill("#email", f"zoe.{scheme}@example.com")
    page.click("#subscribe-button")
    check(page, axe, "check-your-inbox", scheme, problems)
    visit("confirm", confirm_path(live.outbox()[-1]))
    visit("confirm-bad-link", "/confirm/not-a-token", 400)
    with factory() as session:
        subscriber = session.scalar(
            select(Subscriber.id).where(Subscriber.email == f"zoe.{scheme}@example.com")
        )
    visit("manage", f"/manage/{make_token(SECRET, 'manage', subscriber, LIST.slug)}")
    page.click("#plain-links-button")
    check(page, axe, "manage-plain-links", scheme, problems)
    visit("unsubscribe", f"/unsubscribe/{make_token(SECRET, 'unsubscribe', subscriber, LIST.slug)}")
    page.click("#unsubscribe-button")
    check(page, axe, "unsubscribed", scheme, problems)
    visit("archive", f"/archive/{LIST.slug}/{ARCHIVED}")
    assert page.locator("#click-counting").is_visible()
    visit("not-found", "/no-such-page", 404)
    visit("not-allowed", "/confirm/x/resend", 405)
    page.close()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_readers_preference_centre_passes_too(browser, axe, serve, lists_dir, factory, scheme):
    """A confirmed reader's /manage with a digest to choose, paused, then with an error."""
    path = lists_dir / f"{LIST.slug}.toml"
    path.write_text(path.read_text() + "\n[digest]\nenabled = true\n")
    live = serve()
    import_sample(factory)
    with factory() as session:
        ada = session.scalar(
            select(Subscriber.id).where(Subscriber.email == "ada.lovelace@example.com")
        )
    page = browser.new_page(color_scheme=scheme, bypass_csp=True)
    problems: dict[str, list[str]] = {}
    page.goto(live.url + f"/manage/{make_token(SECRET, 'manage', ada, LIST.slug)}")
    check(page, axe, "manage-reader", scheme, problems)
    page.click("#pause-1-button")
    check(page, axe, "manage-paused", scheme, problems)
    page.fill("#email", "not an address")
    page.eval_on_selector("#email", "e => e.type = 'text'")  # past the browser's own check
    page.click("#address-button")
    assert page.locator("#error").is_visible()
    check(page, axe, "manage-error", scheme, problems)
    page.close()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())
