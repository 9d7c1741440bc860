"""The archive's documents other than pages: Atom and JSON feeds, the sitemap and share cards, from
the issues in the archive (ARCHITECTURE.md, "The archive"). The web app and the static site both
call these, so that both publish the same bytes."""

from __future__ import annotations

import datetime as dt

from mailer.archive.entries import ArchiveEntry, ArchiveMeta
from mailer.archive.feeds import atom_feed, json_feed, sitemap_xml
from mailer.archive.pages import Links
from mailer.archive.store import ArchivedIssue, ArchivedPage
from mailer.content.lists import ListDefinition
from mailer.render.card import card_png
from mailer.render.issue import archive_html, archive_text

# An empty archive's feeds still need an updated time; a fixed one keeps their bytes (and ETag)
# the same from one request to the next.
EMPTY_UPDATED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def meta(list_def: ListDefinition, links: Links) -> ArchiveMeta:
    return ArchiveMeta(
        title=list_def.name,
        description=list_def.tagline,
        home_url=links.url(""),
        atom_url=links.url("feed.atom"),
        json_url=links.url("feed.json"),
        language=list_def.language,
        author=list_def.name,
    )


def entry(
    list_def: ListDefinition, page: ArchivedPage, links: Links, base_url: str
) -> ArchiveEntry:
    issue, day = page.issue, page.issue.date.isoformat()
    return ArchiveEntry(
        date=issue.date,
        headline=issue.title,
        dek=issue.dek,
        subject=issue.subject,
        url=links.url(day),
        published=issue.published,
        updated=issue.published,
        html=archive_html(page.html, base_url, list_def.slug),
        text=archive_text(page.text, base_url, list_def.slug),
        image_url=links.url(f"{day}/card.png"),
    )


def feeds(
    list_def: ListDefinition, pages: list[ArchivedPage], links: Links, base_url: str
) -> tuple[bytes, bytes]:
    """(Atom 1.0, JSON Feed 1.1) of `pages`, newest first as given."""
    entries = [entry(list_def, p, links, base_url) for p in pages]
    about = meta(list_def, links)
    return atom_feed(about, entries), json_feed(about, entries)


def sitemap(issues: list[ArchivedIssue], links: Links) -> bytes:
    newest = issues[0].published if issues else None
    urls = [(links.url(""), newest)]
    urls += [(links.url(i.date.isoformat()), i.published) for i in issues]
    return sitemap_xml(urls)


def drawn_card(list_def: ListDefinition, issue: ArchivedIssue) -> bytes:
    """The card of an issue stored before cards were made with the send (migration 0006)."""
    return card_png(list_def.name, issue.title, issue.date, list_def.tagline)
