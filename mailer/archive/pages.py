"""The archive's pages as HTML strings, for the web app and the static site alike (ARCHITECTURE.md,
"The archive").

An issue page is the mail's own frozen HTML, with neutral values for the personal links (the send's
render: no MJML runs here), with the page's head tags (canonical URL, OpenGraph and Twitter cards,
feed links), an archive bar at the top (the mail's "View in browser" line and its subscription
footer are hidden) and the subscribe form at the end. `Links` says where things are: absolute paths
in the web app, relative files in the static site; `public` is the absolute address every feed,
card and canonical URL is built on.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

import jinja2

from mailer.archive.store import ArchivedPage, Listing
from mailer.content.lists import ListDefinition
from mailer.render.issue import archive_html, archive_url, templates_dir

# Targets that are pages (a folder with index.html in the static site); one with a dot is a file.
_PAGE_TARGET = re.compile(r"^(|latest|page/\d+|\d{4}-\d{2}-\d{2})$")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_BODY_START = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_HEAD_END = re.compile(r"</head\s*>", re.IGNORECASE)
PAGE_VERSION = "4"  # part of every ETag: bump it when the page's chrome changes
# What a list with [analytics] clicks counts, said where readers look (/manage says it too).
COUNTING = "We count clicks on links per link, not per person; no open tracking."


@dataclass(frozen=True)
class Links:
    """`href` for links inside the site, `url` for absolute addresses (feeds, cards, canonical).

    web: root="/archive/<slug>", hrefs are root paths ("/archive/x/2026-11-18").
    static: root is "../" times the page's depth, hrefs are files ("../2026-11-18/index.html"), so
    that the site works from any folder of any host, and from disk.
    """

    root: str
    public: str
    static: bool = False

    def href(self, target: str) -> str:
        if not self.static:
            return f"{self.root}/{target}"
        if _PAGE_TARGET.match(target):
            return f"{self.root}{target}/index.html" if target else f"{self.root}index.html"
        return f"{self.root}{target}"

    def url(self, target: str) -> str:
        if self.static and target and _PAGE_TARGET.match(target):
            return f"{self.public}/{target}/"
        return f"{self.public}/{target}"

    def index(self, page: int = 1, query: str = "") -> str:
        if self.static:  # no search in the static site (no server), so no query either
            return self.href("" if page == 1 else f"page/{page}")
        params = {k: v for k, v in (("q", query), ("page", page if page > 1 else "")) if v}
        return self.href("") + (f"?{urlencode(params)}" if params else "")

    def at_depth(self, depth: int) -> Links:
        """The same site seen from a static page `depth` folders down."""
        return Links("../" * depth, self.public, self.static) if self.static else self


def web_links(base_url: str, slug: str) -> Links:
    return Links(f"/archive/{slug}", archive_url(base_url, slug, "").rstrip("/"))


@lru_cache(maxsize=2)
def _environment(folder: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([f"{folder}/archive", f"{folder}/web"]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def _render(template: str, **values) -> str:
    return _environment(str(templates_dir())).get_template(template).render(**values)


def subscribe_url(base_url: str, slug: str) -> str:
    return f"{base_url}/subscribe/{slug}"


def index_html(
    list_def: ListDefinition, listing: Listing, links: Links, base_url: str, searchable: bool
) -> str:
    canonical = links.url("") if listing.page == 1 else links.url(f"page/{listing.page}")
    return _render(
        "index.html",
        masthead=list_def.name,
        tagline=list_def.tagline,
        postal_address=list_def.postal_address,
        listing=listing,
        links=links,
        canonical=links.url("") if listing.query else canonical,
        subscribe_url=subscribe_url(base_url, list_def.slug),
        searchable=searchable,
    )


def _view_in_browser(base_url: str, slug: str, day: dt.date) -> re.Pattern[str]:
    # The mail's first line (templates/email/newsletter.mjml.j2); the archive page is that place.
    href = re.escape(archive_url(base_url, slug, day.isoformat()))
    return re.compile(rf'<a href="{href}"[^>]*>View in browser</a>')


def issue_html(
    list_def: ListDefinition,
    archived: ArchivedPage,
    links: Links,
    base_url: str,
    before: dt.date | None = None,
    after: dt.date | None = None,
) -> str:
    """The issue's page. `base_url` is the app's: the mail's own links were made with it."""
    issue, day = archived.issue, archived.issue.date
    html = archive_html(archived.html, base_url, list_def.slug)
    values = dict(
        masthead=list_def.name,
        title=issue.title,
        description=issue.dek or issue.subject,
        canonical=links.url(day.isoformat()),
        card_url=links.url(f"{day.isoformat()}/card.png"),
        published=issue.published.isoformat(timespec="seconds"),
        links=links,
        before=before,
        after=after,
        subscribe_url=subscribe_url(base_url, list_def.slug),
        counting=COUNTING if list_def.analytics.clicks else None,
    )
    head = _render("issue_head.html", **values)
    bar = _render("issue_bar.html", **values)
    join = _render("issue_join.html", **values)
    html = _HEAD_END.sub(lambda m: head + m.group(0), html, count=1)
    # The mail's "View in browser" line and its subscription footer are `mail-only` (hidden by
    # issue_head.html); renders older than that class lose at least the link (it points here).
    html = _view_in_browser(base_url, list_def.slug, day).sub("", html, count=1)
    html = _BODY_START.sub(lambda m: m.group(0) + bar, html, count=1)
    return _BODY_END.sub(lambda m: join + m.group(0), html, count=1)


def latest_html(list_def: ListDefinition, links: Links, day: dt.date) -> str:
    """The static site's latest/ page (the web app answers a redirect instead)."""
    return _render(
        "latest.html",
        masthead=list_def.name,
        language=list_def.language,
        target=links.href(day.isoformat()),
        canonical=links.url(day.isoformat()),
    )
