"""The archive over real HTTP, as a reader, a feed reader, a crawler and a share preview see it:
index, search, latest, issue pages with anchors and cards, feeds and sitemap; unsent is 404."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import feedparser
import jsonschema
import pytest
from lxml import etree
from lxml import html as lxml_html
from PIL import Image

from mailer.render.issue import anchor
from mailer.send.campaign import store_issue
from tests.archive.conftest import LIST, seed_contents, send_started

SCHEMA = Path(__file__).resolve().parents[1] / "archive" / "jsonfeed-1.1.schema.json"
SLUG = LIST.slug


@pytest.fixture
def archived(live, factory):
    """Four seed issues sent (their sends started), the fifth stored but never sent."""
    contents = seed_contents()
    for content in contents[:4]:
        send_started(factory, live.settings, content)
    store_issue(factory, live.settings, LIST, contents[4])
    return contents


def tree(response):
    return lxml_html.fromstring(response.content)


def meta(page, key: str) -> str:
    found = page.xpath(f'//meta[@property="{key}" or @name="{key}"]/@content')
    assert found, f"no <meta> {key}"
    return found[0]


def test_the_index_lists_sent_issues_newest_first_with_headline_and_dek(live, archived):
    response = live.get(f"/archive/{SLUG}/")
    assert response.status_code == 200
    page = tree(response)
    dates = page.xpath('//article[@class="issue"]/time/@datetime')
    assert dates == [c.date.isoformat() for c in reversed(archived[:4])]
    headlines = page.xpath('//article[@class="issue"]/h2/a/text()')
    assert headlines == [c.headline for c in reversed(archived[:4])]
    assert page.xpath('//article[@class="issue"]/p/text()')[0] == archived[3].dek
    assert archived[4].headline not in response.text  # stored, never sent
    assert page.xpath('//form[@role="search"]/@method') == ["get"]
    alternates = page.xpath('//link[@rel="alternate"]/@type')
    assert alternates == ["application/atom+xml", "application/feed+json"]
    assert not page.xpath('//meta[@name="robots"]')  # the archive is meant to be found
    assert live.get(f"/archive/{SLUG}").status_code in (301, 308)  # to the slash form


def test_search_from_the_box(live, archived):
    word = archived[1].headline.split()[1]
    response = live.get(f"/archive/{SLUG}/", params={"q": word})
    page = tree(response)
    assert response.status_code == 200
    assert archived[1].headline in page.xpath('//article[@class="issue"]/h2/a/text()')
    assert page.xpath('//input[@name="q"]/@value') == [word]
    assert meta(page, "robots") == "noindex, follow"
    empty = live.get(f"/archive/{SLUG}/", params={"q": "zzqqxx"})
    assert empty.status_code == 200 and 'id="empty"' in empty.text
    hostile = live.get(f"/archive/{SLUG}/", params={"q": '"><script>alert(1)</script>'})
    assert hostile.status_code == 200 and "<script>alert(1)" not in hostile.text


@pytest.mark.parametrize("page", ["2", "0", "-1", "abc", "9999999999"])
def test_a_page_that_does_not_exist_is_404(live, archived, page):
    assert live.get(f"/archive/{SLUG}/", params={"page": page}).status_code == 404


def test_latest_redirects_to_the_newest_sent_issue(live, archived):
    response = live.get(f"/archive/{SLUG}/latest")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/archive/{SLUG}/{archived[3].date}")
    assert live.get("/archive/weekend-digest/latest").status_code == 404  # nothing sent there


def test_unsent_future_malformed_and_unknown_are_404(live, archived):
    assert live.get(f"/archive/{SLUG}/{archived[4].date}").status_code == 404
    assert live.get(f"/archive/{SLUG}/{archived[4].date}/card.png").status_code == 404
    assert live.get(f"/archive/{SLUG}/2099-01-01").status_code == 404
    assert live.get(f"/archive/{SLUG}/2026-02-30").status_code == 404
    assert live.get(f"/archive/{SLUG}/..%2F..%2Fetc").status_code == 404
    assert live.get(f"/archive/no-such-list/{archived[0].date}").status_code == 404
    assert live.get("/archive/no-such-list/").status_code == 404


def test_an_issue_page_has_cards_feeds_anchors_and_the_subscribe_form(live, archived):
    content = archived[3]
    url = f"{live.url}/archive/{SLUG}/{content.date}"
    response = live.get(f"/archive/{SLUG}/{content.date}")
    assert response.status_code == 200
    page = tree(response)
    assert page.xpath('//link[@rel="canonical"]/@href') == [url]
    assert meta(page, "og:title") == content.headline
    assert meta(page, "og:description") == content.dek
    assert meta(page, "og:url") == url
    assert meta(page, "og:image") == f"{url}/card.png"
    assert meta(page, "twitter:card") == "summary_large_image"
    assert meta(page, "twitter:image") == f"{url}/card.png"
    assert page.xpath('//link[@rel="alternate"]/@href') == [
        f"/archive/{SLUG}/feed.atom",
        f"/archive/{SLUG}/feed.json",
    ]
    ids = set(page.xpath("//@id"))
    assert {"headline", "deep-dive", "opinion", "trending", "github"} <= ids
    for rank, repo in enumerate(content.github_repos, 1):
        assert f"gh-{rank}" in ids and anchor(repo.name, "gh") in ids
    form = page.xpath('//section[@id="subscribe"]//form')[0]
    assert (form.get("method"), form.get("action")) == ("get", f"{live.url}/subscribe/{SLUG}")
    assert form.xpath('.//input[@name="email"]')
    assert "%%" not in response.text and "View in browser" not in response.text
    assert page.xpath('//a[@rel="prev"]/@href') == [f"/archive/{SLUG}/{archived[2].date}"]
    assert not page.xpath('//a[@rel="next"]')  # the newest


def test_the_card_is_a_1200x630_png(live, archived):
    response = live.get(f"/archive/{SLUG}/{archived[0].date}/card.png")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size) == ("PNG", (1200, 630))
    other = live.get(f"/archive/{SLUG}/{archived[1].date}/card.png").content
    assert other != response.content


def test_the_atom_feed_parses_without_complaint(live, archived):
    response = live.get(f"/archive/{SLUG}/feed.atom")
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert [e.title for e in feed.entries] == [c.headline for c in reversed(archived[:4])]
    newest = feed.entries[0]
    assert newest.link == f"{live.url}/archive/{SLUG}/{archived[3].date}"
    assert archived[3].deep_dive.title in newest.content[0].value


def test_the_json_feed_matches_json_feed_1_1(live, archived):
    response = live.get(f"/archive/{SLUG}/feed.json")
    assert response.headers["Content-Type"].startswith("application/feed+json")
    document = response.json()
    jsonschema.validate(
        document,
        json.loads(SCHEMA.read_text()),
        format_checker=jsonschema.FormatChecker(),
    )
    assert document["feed_url"] == f"{live.url}/archive/{SLUG}/feed.json"
    assert [item["title"] for item in document["items"]] == [
        c.headline for c in reversed(archived[:4])
    ]
    assert document["items"][0]["image"].endswith(f"/{archived[3].date}/card.png")


def test_the_sitemap_names_the_index_and_every_issue(live, archived):
    response = live.get(f"/archive/{SLUG}/sitemap.xml")
    root = etree.fromstring(response.content)
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locations = root.xpath("//s:url/s:loc/text()", namespaces=ns)
    base = f"{live.url}/archive/{SLUG}"
    assert locations == [f"{base}/"] + [f"{base}/{c.date}" for c in reversed(archived[:4])]


@pytest.mark.parametrize("path", ["/", "/{newest}", "/feed.atom", "/feed.json", "/sitemap.xml"])
def test_every_answer_is_cacheable_and_revalidates(live, archived, path):
    full = f"/archive/{SLUG}" + path.format(newest=archived[3].date)
    first = live.get(full)
    assert first.status_code == 200
    assert (
        "public" in first.headers["Cache-Control"] and "max-age=" in first.headers["Cache-Control"]
    )
    assert first.headers["ETag"] and first.headers["Last-Modified"]
    again = live.get(full, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.content
    since = live.get(full, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304


def test_pages_come_from_the_frozen_render_not_mjml(live, archived, monkeypatch):
    import mjml

    def refuse(*_a, **_k):
        raise AssertionError("MJML ran at request time")

    monkeypatch.setattr(mjml, "mjml2html", refuse)
    for path in ("/", f"/{archived[0].date}", "/feed.atom", f"/{archived[1].date}/card.png"):
        assert live.get(f"/archive/{SLUG}{path}").status_code == 200


def test_a_crawler_finds_every_link_of_the_archive_resolving(live, archived):
    """Every same-site link of the index, its pages and the issue pages answers 200."""
    start = f"{live.url}/archive/{SLUG}/"
    seen, queue, broken = set(), [start], []
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        response = live.get(
            urlsplit(url).path + (f"?{urlsplit(url).query}" if urlsplit(url).query else "")
        )
        if response.status_code in (301, 302, 308):
            queue.append(urljoin(url, response.headers["Location"]))
            continue
        if response.status_code != 200:
            broken.append((url, response.status_code))
            continue
        if "text/html" not in response.headers["Content-Type"]:
            continue
        page = tree(response)
        for ref in page.xpath(
            "//a/@href | //link/@href | //img/@src | //form[@method='get']/@action"
        ):
            target = urljoin(url, ref).split("#")[0]
            if target.startswith(live.url) and "/archive/" in target:
                queue.append(target)
    assert not broken
    assert {f"{live.url}/archive/{SLUG}/{c.date}" for c in archived[:4]} <= seen


def test_a_public_issue_is_shown_unsent_and_a_hidden_one_is_not(live, archived, factory):
    from mailer.archive.visibility import mark
    from mailer.store.models import Visibility

    unsent, sent = archived[4], archived[0]
    mark(factory, live.settings, LIST, unsent.date, Visibility.PUBLIC)
    mark(factory, live.settings, LIST, sent.date, Visibility.HIDDEN)
    assert live.get(f"/archive/{SLUG}/{unsent.date}").status_code == 200
    assert live.get(f"/archive/{SLUG}/{sent.date}").status_code == 404
    listed = tree(live.get(f"/archive/{SLUG}/")).xpath("//article/time/@datetime")
    assert unsent.date.isoformat() in listed and sent.date.isoformat() not in listed


def test_hf_entries_get_rank_and_name_anchors():
    from mailer.content.model import TrendingModel
    from mailer.render.issue import render_issue

    content = dataclasses.replace(
        seed_contents()[0],
        hf_models=(
            TrendingModel("meta-llama/Llama-3.1-8B"),
            TrendingModel("Qwen/Qwen3", kind="dataset"),
        ),
    )
    ids = set(
        lxml_html.fromstring(render_issue(content, LIST, "https://x.example").html).xpath("//@id")
    )
    assert {"huggingface", "hf-1", "hf-2", "hf-meta-llama-llama-3-1-8b", "hf-qwen-qwen3"} <= ids


def test_archive_pages_load_nothing_from_elsewhere_and_run_no_script(live, archived):
    """Free of trackers: no script, and every image, stylesheet or frame is inline or ours."""
    for path in ("/", f"/{archived[0].date}", f"/{archived[3].date}"):
        page = tree(live.get(f"/archive/{SLUG}{path}"))
        assert not page.xpath("//script | //iframe | //object | //embed")
        loaded = page.xpath('//img/@src | //link[@rel="stylesheet"]/@href | //source/@src')
        foreign = [u for u in loaded if not u.startswith(("data:", "/", live.url))]
        assert foreign == [], path
