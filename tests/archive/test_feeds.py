"""The archive's feeds and sitemap, read back the way readers and crawlers read them: Atom through
feedparser (and lxml, strict), JSON Feed against a JSON Schema written from the 1.1 spec
(jsonfeed-1.1.schema.json), the sitemap through lxml against the sitemaps.org rules. The entries
are the seed issues, rendered by the mail renderer as the archive shows them, and hostile ones.
"""

from __future__ import annotations

import datetime
import json
import random
import re
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import jsonschema
import lxml.etree
import lxml.html
import pytest

from mailer.archive.entries import ArchiveEntry, ArchiveMeta
from mailer.archive.feeds import (
    EMPTY_FEED_UPDATED,
    JSON_FEED_VERSION,
    SITEMAP_NS,
    atom_feed,
    feed_html,
    feed_text,
    json_feed,
    sitemap_xml,
    xml_safe,
)
from mailer.content.issue_file import load_issue
from mailer.content.lists import load_list
from mailer.content.load import issue_defaults
from mailer.render.issue import archive_html, neutral_values, render_issue

REPO = Path(__file__).resolve().parents[2]
SLUG = "ai-morning-post"
BASE = "https://news.example"
HOME = f"{BASE}/archive/{SLUG}"
SCHEMA = json.loads((Path(__file__).parent / "jsonfeed-1.1.schema.json").read_text())
ATOM_NS = {"a": "http://www.w3.org/2005/Atom", "media": "http://search.yahoo.com/mrss/"}
UTC = datetime.UTC
CET = datetime.timezone(datetime.timedelta(hours=1))

META = ArchiveMeta(
    title="The AI Morning Post",
    description="What moved in AI overnight, before your coffee",
    home_url=HOME,
    atom_url=f"{HOME}/feed.atom",
    json_url=f"{HOME}/feed.json",
    language="en",
    author="The AI Morning Post",
    icon_url=f"{BASE}/static/icon.png",
)

# Strings a feed must carry as text: markup, entities, CDATA's end, controls XML forbids
# (\x0b \x00 \x1f, U+FFFE, a lone surrogate), direction overrides, astral characters.
HOSTILE = [
    "<script>alert(1)</script>",
    "Tom & Jerry &amp; &#0; &nbsp; &bogus;",
    "end of CDATA ]]> and <![CDATA[ start",
    "vertical\x0btab, nul\x00, unit\x1fseparator, \ufffe\uffff, lone \ud800 surrogate",
    "quotes \"double\" and 'single' <a href='x'>",
    "right\u202eto-left and line\u2028separator",
    "émoji 🙂 and 王小明",
]


# --- the entries -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_entries() -> list[ArchiveEntry]:
    """The five seed issues as the lead's code builds them: the archive copy (placeholders filled
    with the neutral values, the QR code a data: URI), newest first."""
    list_def = load_list(REPO / "lists", SLUG)
    entries = []
    for path in sorted((REPO / "issues" / SLUG).glob("*.md")):
        content = load_issue(path, issue_defaults(list_def))
        rendered = render_issue(content, list_def, BASE)
        _, text = rendered.personalize(neutral_values(BASE, SLUG))
        sent = datetime.datetime.combine(content.date, datetime.time(6, 0), tzinfo=CET)
        entries.append(
            ArchiveEntry(
                date=content.date,
                headline=content.headline,
                dek=content.dek,
                subject=content.subject,
                url=f"{HOME}/{content.date}",
                published=sent,
                updated=sent + datetime.timedelta(minutes=30, microseconds=1234),
                html=archive_html(rendered, BASE, SLUG),
                text=text,
                image_url=f"{HOME}/{content.date}/card.png",
            )
        )
    return entries[::-1]


@pytest.fixture(scope="module")
def raw_render():
    """One seed as the mail renderer hands it over, before the archive copy: the QR code a cid:."""
    list_def = load_list(REPO / "lists", SLUG)
    path = sorted((REPO / "issues" / SLUG).glob("*.md"))[0]
    content = load_issue(path, issue_defaults(list_def))
    return content, render_issue(content, list_def, BASE)


def entry(n: int, **changes) -> ArchiveEntry:
    """A small entry of day n (2026-01-01 + n), its own URL."""
    date = datetime.date(2026, 1, 1) + datetime.timedelta(days=n)
    at = datetime.datetime.combine(date, datetime.time(6, 0), tzinfo=UTC)
    values = dict(
        date=date,
        headline=f"Headline {n}",
        dek=f"Dek {n}",
        subject=f"Subject {n}",
        url=f"{HOME}/{date}",
        published=at,
        updated=at,
        html=f"<!doctype html><html><head><style>p{{color:red}}</style></head>"
        f"<body><p>Body {n}</p></body></html>",
        text=f"Body {n}\n",
    )
    values.update(changes)
    return ArchiveEntry(**values)


# --- reading back ------------------------------------------------------------------------------


def parsed_atom(data: bytes):
    """feedparser's view, which must see a well-formed Atom 1.0 feed."""
    feed = feedparser.parse(data)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def strict_atom(data: bytes):
    """The document through lxml's strict XML parser (no recovery), for the exact texts."""
    root = lxml.etree.fromstring(data, lxml.etree.XMLParser(recover=False, resolve_entities=False))
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
    return root


def validated_json(data: bytes) -> dict:
    checker = jsonschema.FormatChecker()
    # Without their optional libraries these formats would pass unchecked: insist on them.
    assert {"uri", "date-time"} <= set(checker.checkers), "install jsonschema[format-nongpl]"
    document = json.loads(data.decode("utf-8"))
    jsonschema.Draft202012Validator(SCHEMA, format_checker=checker).validate(document)
    return document


def text_of(element, path: str) -> str | None:
    found = element.find(path, ATOM_NS)
    return None if found is None else (found.text or "")


def instant(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))


def to_second(value: datetime.datetime) -> datetime.datetime:
    return value.astimezone(UTC).replace(microsecond=0)


# --- Atom --------------------------------------------------------------------------------------


def test_atom_round_trips_the_feed_and_every_entry(seed_entries):
    data = atom_feed(META, seed_entries)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    feed = parsed_atom(data)
    assert feed.feed.title == META.title
    assert feed.feed.subtitle == META.description
    assert feed.feed.id == HOME
    assert feed.feed.language == "en"
    assert feed.feed.author_detail.name == META.author
    assert feed.feed.icon == META.icon_url
    links = {(link.rel, link.href, link.type) for link in feed.feed.links}
    assert ("self", META.atom_url, "application/atom+xml") in links
    assert ("alternate", HOME, "text/html") in links
    newest = max(to_second(e.updated) for e in seed_entries)
    assert instant(feed.feed.updated) == newest

    assert [item.id for item in feed.entries] == [e.url for e in seed_entries]
    root = strict_atom(data)
    for item, given, element in zip(
        feed.entries, seed_entries, root.findall("a:entry", ATOM_NS), strict=True
    ):
        assert item.title == given.headline
        assert item.link == given.url
        assert item.summary == given.dek
        assert instant(item.published) == to_second(given.published)
        assert instant(item.updated) == to_second(given.updated)
        assert item.content[0].type == "text/html"
        assert item.media_thumbnail == [{"url": given.image_url}]
        # The content exactly as made for the feed (feedparser sanitizes what it shows).
        content = element.find("a:content", ATOM_NS)
        assert content.get("type") == "html"
        assert content.text == feed_html(given.html)
        assert text_of(element, "a:id") == given.url


def test_entry_content_is_the_body_without_what_only_a_mail_needs(seed_entries):
    for given in seed_entries:
        content = feed_html(given.html)
        body = lxml.html.fragment_fromstring(content, create_parent="div")
        shown = body.text_content()
        # What the issue says is there, its links and the data: QR code included.
        assert given.headline in shown
        assert given.dek in shown
        assert body.xpath(".//a[@href]")
        assert body.xpath(".//img[starts-with(@src, 'data:image/png')]")
        # The document around it, the preheader, Outlook's comments and the mail's links are not.
        for left_out in ("<html", "<head", "<body", "<style", "<!--", "%%", "\u034f\u200c"):
            assert left_out not in content, left_out
        assert "View in browser" not in shown
        assert "Unsubscribe" not in shown and "Manage your subscription" not in shown
        assert "because you subscribed" not in shown
        assert not body.xpath(".//*[contains(@class, 'preheader') or contains(@class, 'mail')]")
        assert given.url not in content  # the only link to the page itself was "View in browser"


def test_an_image_pointing_into_the_mail_is_left_out_with_its_empty_link(raw_render):
    content, rendered = raw_render
    html, _ = rendered.personalize(neutral_values(BASE, SLUG))
    assert 'src="cid:' in html
    kept = lxml.html.fragment_fromstring(feed_html(html), create_parent="div")
    assert not kept.xpath(".//img[starts-with(@src, 'cid:')]")
    assert not kept.xpath(".//a[not(normalize-space()) and not(*)]"), "an empty link was left"
    assert content.cta.qr_caption in kept.text_content()  # the caption under it stays


def test_the_text_leaves_out_the_mail_footer(seed_entries):
    for given in seed_entries:
        text = feed_text(given.text)
        assert given.dek.split()[0] in text
        assert "Unsubscribe" not in text and "because you subscribed" not in text
        assert text.endswith("\n") and not text.endswith("\n\n")
    assert feed_text("a\n--\nfooter\n") == "a\n"
    assert feed_text("a -- b\n") == "a -- b\n"  # a dash pair inside a line is text
    assert feed_text("") == ""


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_keeps_both_feeds_valid(hostile):
    given = entry(
        1,
        headline=f"H {hostile}",
        dek=f"D {hostile}",
        html=f"<html><body><p>{hostile}</p><script>steal()</script><p>after</p></body></html>",
        text=f"T {hostile}\n",
    )
    meta = replace(META, title=f"The {hostile} Post", description=hostile)
    data = atom_feed(meta, [given])
    feed = parsed_atom(data)
    root = strict_atom(data)
    clean = xml_safe(hostile)
    assert clean == "".join(c for c in hostile if c not in "\x0b\x00\x1f\ufffe\uffff\ud800")
    assert text_of(root, "a:title") == f"The {clean} Post"
    assert text_of(root, "a:subtitle") == clean
    assert text_of(root, "a:entry/a:title") == f"H {clean}"
    assert text_of(root, "a:entry/a:summary") == f"D {clean}"
    content = text_of(root, "a:entry/a:content")
    assert "<script" not in content and "steal()" not in content
    assert "after" in content
    assert feed.entries[0].title == f"H {clean}"

    document = validated_json(json_feed(meta, [given]))
    assert document["title"] == f"The {clean} Post"
    item = document["items"][0]
    assert item["title"] == f"H {clean}"
    assert item["summary"] == f"D {clean}"
    assert item["content_text"] == f"T {clean}\n"
    assert "<script" not in item["content_html"]


def test_an_empty_archive_is_a_valid_feed_the_same_every_time():
    data = atom_feed(META, [])
    assert data == atom_feed(META, [])  # the same bytes: ETag and conditional GET hold
    feed = parsed_atom(data)
    assert feed.entries == []
    assert instant(feed.feed.updated) == EMPTY_FEED_UPDATED
    assert feed.feed.title == META.title
    document = validated_json(json_feed(META, []))
    assert document["items"] == []


def test_twenty_entries_come_out_in_the_order_given_none_cut():
    entries = [entry(n) for n in range(20)]
    random.Random(13).shuffle(entries)  # not by date: the order is the caller's
    entries[7] = replace(entries[7], updated=entries[7].updated + datetime.timedelta(days=400))
    feed = parsed_atom(atom_feed(META, entries))
    assert [item.id for item in feed.entries] == [e.url for e in entries]
    assert instant(feed.feed.updated) == entries[7].updated  # the newest change, wherever it is
    document = validated_json(json_feed(META, entries))
    assert [item["id"] for item in document["items"]] == [e.url for e in entries]


def test_a_missing_headline_falls_back_to_the_subject_then_the_date():
    entries = [entry(1, headline=" "), entry(2, headline="", subject="\x0b")]
    feed = parsed_atom(atom_feed(META, entries))
    assert [item.title for item in feed.entries] == ["Subject 1", "2026-01-03"]
    document = validated_json(json_feed(META, entries))
    assert [item["title"] for item in document["items"]] == ["Subject 1", "2026-01-03"]


# --- JSON Feed ---------------------------------------------------------------------------------


def test_json_feed_follows_the_spec_and_round_trips(seed_entries):
    data = json_feed(META, seed_entries)
    document = validated_json(data)
    assert list(document) == [
        "version",
        "title",
        "home_page_url",
        "feed_url",
        "description",
        "icon",
        "favicon",
        "authors",
        "language",
        "items",
    ]
    assert document["version"] == JSON_FEED_VERSION
    assert document["home_page_url"] == HOME and document["feed_url"] == META.json_url
    assert document["authors"] == [{"name": META.author, "url": HOME}]
    for item, given in zip(document["items"], seed_entries, strict=True):
        assert item["id"] == item["url"] == given.url
        assert item["title"] == given.headline
        assert item["summary"] == given.dek
        assert item["image"] == given.image_url
        assert item["content_html"] == feed_html(given.html)
        assert item["content_text"] == feed_text(given.text)
        assert instant(item["date_published"]) == to_second(given.published)
        assert instant(item["date_modified"]) == to_second(given.updated)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["date_modified"])
    assert data == json_feed(META, seed_entries)


def test_json_feed_is_utf8_not_ascii_escaped():
    data = json_feed(replace(META, title="Le Café ☕"), [entry(1, headline="Déjà 王")])
    assert "Le Café ☕".encode() in data and "Déjà 王".encode() in data
    assert b"\\u" not in data


def test_json_feed_leaves_empty_optional_fields_out():
    meta = replace(META, description="", icon_url=None)
    document = validated_json(json_feed(meta, [entry(1, dek="", image_url=None, text="")]))
    assert not {"description", "icon", "favicon"} & set(document)
    item = document["items"][0]
    assert not {"summary", "image"} & set(item)
    assert item["content_text"] == ""  # kept: the spec wants content_html or content_text


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.pop("version"),
        lambda d: d.update(version="https://jsonfeed.org/version/1"),
        lambda d: d.update(home_page_url="/archive/relative"),
        lambda d: d.update(home_url=HOME),  # a misspelt field
        lambda d: d["items"][0].pop("id"),
        lambda d: [d["items"][0].pop(k) for k in ("content_html", "content_text")],
        lambda d: d["items"][0].update(date_published="18 Nov 2026"),
        lambda d: d["items"][0].update(image="not a url"),
        lambda d: d.update(authors=[{}]),
    ],
)
def test_the_schema_refuses_broken_feeds(breakage):
    """The schema is not vacuous: each of these breaks it."""
    document = json.loads(json_feed(META, [entry(1, image_url=f"{HOME}/card.png")]))
    breakage(document)
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    assert not validator.is_valid(document)


# --- what the caller gets wrong ----------------------------------------------------------------


@pytest.mark.parametrize("build", [atom_feed, json_feed])
def test_placeholders_left_in_are_refused(build):
    with pytest.raises(ValueError, match=r"2026-01-02: its html still holds %%UNSUBSCRIBE_URL%%"):
        build(META, [entry(1, html="<a href='%%UNSUBSCRIBE_URL%%'>x</a>")])


def test_placeholders_left_in_the_text_are_refused():
    with pytest.raises(ValueError, match=r"its text still holds %%GREETING%%.*neutral_values"):
        json_feed(META, [entry(1, text="%%GREETING%%\n")])


@pytest.mark.parametrize("build", [atom_feed, json_feed])
def test_naive_datetimes_are_refused(build):
    naive = datetime.datetime(2026, 1, 2, 6, 0)
    with pytest.raises(ValueError, match=r"2026-01-02: updated: .* has no timezone"):
        build(META, [entry(1, updated=naive)])


@pytest.mark.parametrize("build", [atom_feed, json_feed])
def test_two_entries_with_one_url_are_refused(build):
    with pytest.raises(ValueError, match=r"two entries have the URL"):
        build(META, [entry(1), entry(2, url=entry(1).url)])


def test_a_feed_needs_a_title():
    with pytest.raises(ValueError, match=r"ArchiveMeta.title is empty"):
        atom_feed(replace(META, title="\x0b "), [])


# --- sitemap -----------------------------------------------------------------------------------

W3C_DATETIME = re.compile(r"\d{4}(-\d\d(-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d))?)?)?")


def sitemap_rules(data: bytes) -> list[tuple[str, str | None]]:
    """The sitemaps.org 0.9 rules for a urlset, checked; (loc, lastmod) of each URL back."""
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert len(data) <= 50 * 1024 * 1024
    root = lxml.etree.fromstring(data, lxml.etree.XMLParser(recover=False))
    assert root.tag == f"{{{SITEMAP_NS}}}urlset"
    assert root.nsmap == {None: SITEMAP_NS}
    urls = list(root)
    assert 1 <= len(urls) <= 50_000
    hosts = set()
    found = []
    for url in urls:
        assert url.tag == f"{{{SITEMAP_NS}}}url"
        assert [child.tag.split("}")[1] for child in url] in (["loc"], ["loc", "lastmod"])
        loc = url.findtext(f"{{{SITEMAP_NS}}}loc")
        parts = urlsplit(loc)
        assert parts.scheme in ("http", "https") and parts.netloc, loc
        assert len(loc) < 2048
        hosts.add((parts.scheme, parts.netloc))
        lastmod = url.findtext(f"{{{SITEMAP_NS}}}lastmod")
        if lastmod is not None:
            assert W3C_DATETIME.fullmatch(lastmod), lastmod
            assert datetime.datetime.fromisoformat(lastmod).tzinfo is not None
        found.append((loc, lastmod))
    assert len(hosts) == 1  # one site
    return found


def test_sitemap_lists_each_url_with_its_lastmod():
    urls = [
        (HOME, datetime.datetime(2026, 11, 22, 7, 30, 15, 999, tzinfo=CET)),
        (f"{HOME}/2026-11-22", datetime.datetime(2026, 11, 22, 6, 0, tzinfo=UTC)),
        (f"{BASE}/search?q=a&lang=en&x=<y>", None),
        (f"{BASE}/caf%C3%A9/'quoted'", None),
    ]
    assert sitemap_rules(sitemap_xml(urls)) == [
        (HOME, "2026-11-22T06:30:15+00:00"),
        (f"{HOME}/2026-11-22", "2026-11-22T06:00:00+00:00"),
        (f"{BASE}/search?q=a&lang=en&x=<y>", None),
        (f"{BASE}/caf%C3%A9/'quoted'", None),
    ]
    assert b"q=a&amp;lang=en&amp;x=&lt;y&gt;" in sitemap_xml(urls)  # escaped by lxml


def test_sitemap_takes_fifty_thousand_urls_and_refuses_more():
    urls = [(f"{BASE}/p/{n}", None) for n in range(50_000)]
    assert len(sitemap_rules(sitemap_xml(urls))) == 50_000
    with pytest.raises(ValueError, match=r"50,001 URLs, one sitemap holds at most 50,000"):
        sitemap_xml([*urls, (f"{BASE}/one-more", None)])


def test_sitemap_refuses_more_than_fifty_megabytes():
    padding = "x" * (2047 - len(f"{BASE}/00000/"))
    urls = [(f"{BASE}/{n:05}/{padding}", None) for n in range(26_000)]
    with pytest.raises(ValueError, match=r"bytes, one sitemap holds at most 52,428,800"):
        sitemap_xml(urls)


@pytest.mark.parametrize(
    ("loc", "message"),
    [
        ("/archive/relative", "not an absolute http"),
        ("news.example/archive", "not an absolute http"),
        ("ftp://news.example/file", "not an absolute http"),
        ("javascript:alert(1)", "not an absolute http"),
        (f"{BASE}/café", "percent-encode it"),
        (f"{BASE}/with space", "percent-encode it"),
        (f"{BASE}/line\nbreak", "percent-encode it"),
        (f"{BASE}/" + "x" * (2048 - len(BASE) - 1), "has 2,048 characters, at most 2,047"),
        ("https://elsewhere.example/page", "is not on https://news.example"),
        ("http://news.example/page", "is not on https://news.example"),
    ],
)
def test_sitemap_refuses_urls_the_protocol_does_not_allow(loc, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        sitemap_xml([(HOME, None), (loc, None)])


def test_sitemap_loc_of_2047_characters_is_allowed():
    loc = f"{BASE}/" + "x" * (2047 - len(BASE) - 1)
    assert sitemap_rules(sitemap_xml([(loc, None)])) == [(loc, None)]


def test_sitemap_refuses_nothing_and_naive_lastmod():
    with pytest.raises(ValueError, match="no URLs"):
        sitemap_xml([])
    with pytest.raises(ValueError, match=r"lastmod of https://news.example/archive.*no timezone"):
        sitemap_xml([(HOME, datetime.datetime(2026, 1, 1))])
