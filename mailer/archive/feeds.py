"""The archive as feeds and a sitemap: Atom 1.0 (feedgen), JSON Feed 1.1 and a sitemaps.org 0.9
urlset (lxml). The formats stop here (ARCHITECTURE.md, "Layers and rules"): the caller passes
`ArchiveMeta` and `ArchiveEntry` values and gets bytes to serve.

The entries come in the order the caller gives (newest first, as many as it wants shown: nothing is
sorted or cut here). An entry's content is the mail's HTML made fit for a feed (`feed_html`), its
text the mail's text without the subscription footer (`feed_text`).

Every string is stripped of the characters XML 1.0 forbids (`xml_safe`), in both feeds so that an
entry reads the same in each: lxml refuses them, and one of them would make a reader reject the
whole feed.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import lxml.etree
import lxml.html
from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from mailer.archive.entries import ArchiveEntry, ArchiveMeta
from mailer.render.issue import PLACEHOLDERS

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
# An empty archive's feed is still updated at some instant (Atom requires one): a fixed one, so
# that the same empty archive is the same bytes on every request (ETag, conditional GET), and any
# first issue is newer than it.
EMPTY_FEED_UPDATED = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)

# XML 1.0's Char production: tab, LF, CR, then U+0020 on, without the surrogates, U+FFFE, U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PLACEHOLDER = re.compile("%%(" + "|".join(PLACEHOLDERS) + ")%%")


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry (C0 controls but tab, LF and CR; lone
    surrogates; U+FFFE and U+FFFF). They show nothing a reader could see, so they are dropped."""
    return _NOT_XML.sub("", text)


# --- what of the mail goes into a feed ------------------------------------------------------------


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


# Left out of an entry's content, each for a reason (the rest of the <body> stays as it is):
_DROPPED = (
    # Outlook's conditional comments (<!--[if mso]>...): tables only Outlook reads.
    ".//comment()",
    # The hidden inbox preview line and its padding of invisible characters: a reader that drops
    # the style that hides it would show it.
    f".//*[{_has_class('preheader')}]",
    # "View in browser" and the subscription footer (who receives the mail, the postal address,
    # manage and unsubscribe links): the template marks them mail-only (newsletter.mjml.j2).
    f".//*[{_has_class('mail-only')}]",
    # Nothing executable or document-level belongs in an entry (the head is left out already).
    ".//script | .//style | .//link | .//meta | .//base",
    # An image still pointing into the mail (cid:, the QR code of a copy not made for the archive)
    # shows nothing outside it; its link goes too when the image is all the link holds.
    ".//a[img[starts-with(@src, 'cid:')] and not(normalize-space())]",
    ".//img[starts-with(@src, 'cid:')]",
)


def feed_html(document: str) -> str:
    """The inner HTML of the document's <body>, without what `_DROPPED` names: a full document,
    its <head> and <style>, does not belong inside a feed entry."""
    if not document.strip():
        return ""
    root = lxml.html.document_fromstring(xml_safe(document))
    body = root.find("body")
    if body is None:
        return ""
    for xpath in _DROPPED:
        for node in body.xpath(xpath):
            if node.getparent() is not None:  # not inside something dropped already
                node.drop_tree()  # keeps the text that follows it
    inner = [body.text or ""]
    inner += [lxml.html.tostring(child, encoding="unicode") for child in body]
    return "".join(inner).strip()


def feed_text(text: str) -> str:
    """The text part up to its footer: the last line that is "--" starts it (newsletter.txt.j2:
    who receives the mail, the postal address, manage and unsubscribe links)."""
    # Only line feeds end a line (str.splitlines would also split at U+2028 and the like).
    lines = xml_safe(text).replace("\r\n", "\n").split("\n")
    delimiters = [i for i, line in enumerate(lines) if line.rstrip() == "--"]
    if delimiters:
        lines = lines[: delimiters[-1]]
    kept = "\n".join(lines).strip()
    return kept + "\n" if kept else ""


# --- checks on what the caller passes ----------------------------------------------------------


def _instant(value: datetime.datetime, where: str) -> datetime.datetime:
    """An aware datetime in UTC, to the second (the same instant in both feeds)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{where}: {value.isoformat()} has no timezone: pass an aware datetime")
    return value.astimezone(datetime.UTC).replace(microsecond=0)


def _filled(entry: ArchiveEntry, field: str, value: str) -> str:
    """A mail's per-recipient %%PLACEHOLDERS%% left in would reach every reader as is."""
    left = _PLACEHOLDER.search(value)
    if left:
        raise ValueError(
            f"archive entry {entry.date}: its {field} still holds {left.group(0)}: fill the "
            "placeholders with mailer.render.issue.neutral_values before building a feed"
        )
    return value


def _title(entry: ArchiveEntry) -> str:
    return xml_safe(entry.headline).strip() or xml_safe(entry.subject).strip() or str(entry.date)


def _checked(meta: ArchiveMeta, entries: Sequence[ArchiveEntry]) -> None:
    if not xml_safe(meta.title).strip():
        raise ValueError("archive feed: ArchiveMeta.title is empty: pass the list's name")
    seen: set[str] = set()
    for entry in entries:
        if entry.url in seen:
            raise ValueError(f"archive feed: two entries have the URL {entry.url} (one per issue)")
        seen.add(entry.url)


# --- Atom 1.0 ----------------------------------------------------------------------------------


def atom_feed(meta: ArchiveMeta, entries: Sequence[ArchiveEntry]) -> bytes:
    """Atom 1.0, UTF-8. The feed's id is the archive's home URL, an entry's its issue's URL: both
    stable, and what readers deduplicate on."""
    _checked(meta, entries)
    feed = FeedGenerator()
    feed.load_extension("media", atom=True, rss=False)
    feed.id(meta.home_url)
    feed.title(xml_safe(meta.title))
    if xml_safe(meta.description).strip():
        feed.subtitle(xml_safe(meta.description))
    feed.link(href=meta.atom_url, rel="self", type="application/atom+xml")
    feed.link(href=meta.home_url, rel="alternate", type="text/html")
    feed.language(meta.language)
    # Atom needs an author on the feed or on every entry: the feed's covers its entries.
    feed.author(name=xml_safe(meta.author or meta.title), uri=meta.home_url)
    if meta.icon_url:
        feed.icon(meta.icon_url)
    feed.updated(_updated(entries))
    for entry in entries:
        _atom_entry(feed.add_entry(order="append"), entry)
    return feed.atom_str(pretty=True, encoding="UTF-8")


def _updated(entries: Sequence[ArchiveEntry]) -> datetime.datetime:
    """The newest change of any entry (not only the first one's)."""
    instants = [_instant(e.updated, f"archive entry {e.date}: updated") for e in entries]
    return max(instants, default=EMPTY_FEED_UPDATED)


def _atom_entry(item: FeedEntry, entry: ArchiveEntry) -> None:
    item.id(entry.url)
    item.title(_title(entry))
    item.link(href=entry.url, rel="alternate", type="text/html")
    item.published(_instant(entry.published, f"archive entry {entry.date}: published"))
    item.updated(_instant(entry.updated, f"archive entry {entry.date}: updated"))
    if xml_safe(entry.dek).strip():
        item.summary(xml_safe(entry.dek))  # type text: the dek is plain text
    item.content(feed_html(_filled(entry, "html", entry.html)), type="html")
    if entry.image_url:
        # The share card as media:thumbnail (Media RSS), the picture readers put next to an
        # entry; a rel="enclosure" link is an attachment to download, which a card is not.
        item.media.thumbnail(url=entry.image_url, group=None)


# --- JSON Feed 1.1 -----------------------------------------------------------------------------


def json_feed(meta: ArchiveMeta, entries: Sequence[ArchiveEntry]) -> bytes:
    """JSON Feed 1.1, UTF-8 (not ASCII-escaped), keys in the spec's order, empty optional fields
    left out."""
    _checked(meta, entries)
    feed = {
        "version": JSON_FEED_VERSION,
        "title": xml_safe(meta.title),
        "home_page_url": meta.home_url,
        "feed_url": meta.json_url,
        "description": xml_safe(meta.description),
        # One image for both: the big icon and the small favicon (readers scale it).
        "icon": meta.icon_url,
        "favicon": meta.icon_url,
        "authors": [{"name": xml_safe(meta.author or meta.title), "url": meta.home_url}],
        "language": meta.language,
        "items": [_json_item(entry) for entry in entries],
    }
    document = json.dumps(_without_empty(feed, keep=("items",)), ensure_ascii=False, indent=2)
    return (document + "\n").encode("utf-8")


def _json_item(entry: ArchiveEntry) -> dict:
    return _without_empty(
        {
            "id": entry.url,
            "url": entry.url,
            "title": _title(entry),
            # content_html and content_text stay even when empty: the spec wants one present.
            "content_html": feed_html(_filled(entry, "html", entry.html)),
            "content_text": feed_text(_filled(entry, "text", entry.text)),
            "summary": xml_safe(entry.dek).strip(),
            "image": entry.image_url,
            "date_published": _rfc3339(entry.published, entry, "published"),
            "date_modified": _rfc3339(entry.updated, entry, "updated"),
        },
        keep=("content_html", "content_text"),
    )


def _rfc3339(value: datetime.datetime, entry: ArchiveEntry, field: str) -> str:
    instant = _instant(value, f"archive entry {entry.date}: {field}")
    return instant.isoformat().replace("+00:00", "Z")


def _without_empty(values: dict, keep: Sequence[str] = ()) -> dict:
    return {key: value for key, value in values.items() if value or key in keep}


# --- sitemap -----------------------------------------------------------------------------------

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
# The protocol's limits for one sitemap: beyond them, several sitemaps and a sitemap index.
SITEMAP_MAX_URLS = 50_000
SITEMAP_MAX_BYTES = 50 * 1024 * 1024  # uncompressed
LOC_MAX_CHARS = 2047  # "less than 2,048 characters"
_URL_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII: anything else is percent-encoded


def sitemap_xml(urls: Sequence[tuple[str, datetime.datetime | None]]) -> bytes:
    """A sitemaps.org 0.9 urlset, UTF-8: each URL its <loc> and, when given, its <lastmod> (W3C
    datetime, UTC). lxml escapes; the URLs are checked against the protocol's rules."""
    if not urls:
        raise ValueError("sitemap: no URLs: a urlset holds at least one (the archive's index)")
    if len(urls) > SITEMAP_MAX_URLS:
        raise ValueError(
            f"sitemap: {len(urls):,} URLs, one sitemap holds at most {SITEMAP_MAX_URLS:,}: "
            "split them over several sitemaps and a sitemap index"
        )
    origin = _origin(urls[0][0])
    urlset = lxml.etree.Element(f"{{{SITEMAP_NS}}}urlset", nsmap={None: SITEMAP_NS})
    for loc, lastmod in urls:
        _check_loc(loc, origin)
        url = lxml.etree.SubElement(urlset, f"{{{SITEMAP_NS}}}url")
        lxml.etree.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = loc
        if lastmod is not None:
            instant = _instant(lastmod, f"sitemap: lastmod of {loc}")
            lxml.etree.SubElement(url, f"{{{SITEMAP_NS}}}lastmod").text = instant.isoformat()
    document = lxml.etree.tostring(
        urlset, xml_declaration=True, encoding="UTF-8", pretty_print=True
    )
    if len(document) > SITEMAP_MAX_BYTES:
        raise ValueError(
            f"sitemap: {len(document):,} bytes, one sitemap holds at most "
            f"{SITEMAP_MAX_BYTES:,} uncompressed: split the URLs over several sitemaps"
        )
    return document


def _origin(loc: str) -> tuple[str, str]:
    parts = urlsplit(loc)
    return parts.scheme.lower(), parts.netloc.lower()


def _check_loc(loc: str, origin: tuple[str, str]) -> None:
    """Absolute http(s), percent-encoded, shorter than 2,048 characters, and every URL on the
    first one's scheme and host (a sitemap lists one site)."""
    if not _URL_CHARS.fullmatch(loc):
        raise ValueError(
            f"sitemap: URL {loc!r} has spaces, controls or non-ASCII characters: "
            "percent-encode it (RFC 3986)"
        )
    scheme, host = _origin(loc)
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"sitemap: URL {loc!r} is not an absolute http(s) URL")
    if len(loc) > LOC_MAX_CHARS:
        raise ValueError(
            f"sitemap: URL {loc[:60]}... has {len(loc):,} characters, at most {LOC_MAX_CHARS:,}"
        )
    if (scheme, host) != origin:
        raise ValueError(
            f"sitemap: URL {loc} is not on {origin[0]}://{origin[1]} like the first one "
            "(one sitemap lists one site)"
        )
