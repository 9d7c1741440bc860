"""`mailer lint` of a list with [analytics] clicks: the seed issues still pass, their counted links
are https under MAILER_BASE_URL and the size is judged on the HTML that goes out; a base URL that
readers cannot open over https is an error naming the setting, for a real transport."""

from __future__ import annotations

import dataclasses

import pytest

from mailer.config import Settings
from mailer.render import lint as L
from mailer.render.issue import neutral_values, render_issue
from tests.conftest import REPO
from tests.render.conftest import BASE_URL, LIST
from tests.send.clicks import counting, hrefs, own, with_hostile_links, written_links

CLICKS = counting(LIST)


def settings(base_url: str = BASE_URL, transport: str = "ses") -> Settings:
    return Settings(
        secret_key=None,  # lint needs no key, counted links or not
        base_url=base_url,
        transport=transport,
        issues_path=(REPO / "issues",),
        lists_dir=REPO / "lists",
    )


@pytest.mark.parametrize("index", range(5))
def test_every_seed_issue_passes_with_clicks_and_its_counted_links_are_https_ours(
    seed_contents, index
):
    content = seed_contents[index]
    findings = L.lint_issue(settings(), CLICKS, content)
    assert [f.line() for f in findings if f.check != "left-out"] == []
    rendered = render_issue(content, CLICKS, BASE_URL)
    html, _ = rendered.personalize(neutral_values(BASE_URL, CLICKS.slug))
    sent = L.counted_html(html, BASE_URL)
    originals = written_links(html, BASE_URL)
    counted = [h for h in hrefs(sent) if h.startswith(f"{BASE_URL}/r/")]
    assert originals and len(counted) == len(originals)
    assert all(h.startswith("https://news.example/r/") for h in counted)
    # nothing but the content links changed, and every link left is ours or not a web link
    assert [h for h in hrefs(sent) if h not in counted] == [
        h for h in hrefs(html) if h not in {url for url, _ in originals}
    ]
    assert all(
        own(h, BASE_URL) or not h.startswith("http") for h in hrefs(sent) if h not in counted
    )


def test_hostile_links_lint_clean_and_are_sized_as_sent(seed_contents):
    content = with_hostile_links(seed_contents[2])
    assert [f for f in L.lint_issue(settings(), CLICKS, content) if f.level == "error"] == []
    # the size check judges the HTML as it goes out: with counted links, not as written
    many = tuple(
        dataclasses.replace(content.tool_items[0], url="https://t.example/") for _ in range(100)
    )
    crowded = dataclasses.replace(content, tool_items=many)
    rendered = render_issue(crowded, CLICKS, BASE_URL)
    html, _ = rendered.personalize(neutral_values(BASE_URL, CLICKS.slug))
    counted = L.counted_html(html, BASE_URL)
    assert len(counted) > len(html) + 100 * 20
    sent = [f.message for f in L.lint_issue(settings(), CLICKS, crowded) if f.check == "size"]
    written = [f.message for f in L.lint_issue(settings(), LIST, crowded) if f.check == "size"]
    assert sent == [f.message for f in L.check_size(counted)] != written
    assert written == [f.message for f in L.check_size(html)]


@pytest.mark.parametrize(
    "base_url", ["http://news.example", "https://localhost:8000", "http://127.0.0.1:8000"]
)
def test_counted_links_need_a_public_https_base_url_for_a_real_transport(seed_contents, base_url):
    content = seed_contents[0]
    for transport in ("ses", "smtp://mail.example:587"):
        found = [
            f
            for f in L.lint_issue(settings(base_url, transport), CLICKS, content)
            if f.check == "clicks"
        ]
        assert [f.level for f in found] == ["error"]
        assert "MAILER_BASE_URL" in found[0].message and "clicks = false" in found[0].message
        assert "\n" not in found[0].message
    # the local outbox: the base-url warning says it already; no clicks error
    local = L.lint_issue(settings(base_url, "file"), CLICKS, content)
    assert not [f for f in local if f.check == "clicks"]
    assert not [f for f in L.lint_issue(settings(base_url), LIST, content) if f.check == "clicks"]
