"""The archive's routes: index with search, latest, issue pages, share cards, feeds and sitemap
(ARCHITECTURE.md, "The archive"). Pages come from the send's frozen render; nothing here runs MJML.

Every answer carries an ETag and Last-Modified, so that a reader's browser, a feed reader or a CDN
asks again cheaply (304), and a Cache-Control that lets them keep it a few minutes. Rendered issue
pages, feeds and cards are also kept in memory with their ETags, keyed by the issues' content
hashes: a new render is a new key. What a request still costs is one query (bench/web.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Response, abort, redirect, request

from mailer.archive import documents, pages, store
from mailer.content.lists import ListDefinition
from mailer.web import views

archive = Blueprint("archive", __name__)
PAGE_MAX_AGE = 300  # seconds a browser or CDN may reuse a page or feed without asking
CARD_MAX_AGE = 86400
FEED_TYPES = {"atom": "application/atom+xml", "json": "application/feed+json"}


class _Recent:
    """The last `size` values made, by key (a lock: gunicorn's threaded workers share it)."""

    def __init__(self, size: int) -> None:
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, make: Callable[[], object]):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


@dataclass(frozen=True)
class _Document:
    """A body as sent, with its ETag: hashed once for what the caches keep (a feed is ~250 KB)."""

    data: bytes
    etag: str


def _document(body: bytes | str) -> _Document:
    data = body.encode() if isinstance(body, str) else body
    return _Document(data, hashlib.sha256(data).hexdigest()[:32])


_issue_pages = _Recent(64)
_cards = _Recent(32)
_feeds = _Recent(8)


def _list(slug: str) -> ListDefinition:
    return views.list_def(slug)


def _base_url() -> str:
    return views.settings().base_url


def _session():
    return views.factory()()


def _cached(
    body: bytes | str | _Document,
    mimetype: str,
    last_modified: dt.datetime | None,
    max_age: int = PAGE_MAX_AGE,
) -> Response:
    document = body if isinstance(body, _Document) else _document(body)
    response = Response(document.data, mimetype=mimetype)
    response.set_etag(document.etag)
    if last_modified is not None:
        response.last_modified = last_modified
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    return response.make_conditional(request)


def _day(date: str) -> dt.date:
    try:
        return dt.date.fromisoformat(date)
    except ValueError:
        abort(404)


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or len(raw) > 6:
        abort(404)
    return int(raw)


@archive.get("/archive/<slug>/")
def index(slug: str):
    definition = _list(slug)
    query = request.args.get("q", "").strip()
    with _session() as session:
        listing = store.listing(session, slug, store.today_of(definition), _page_number(), query)
    if listing is None:
        abort(404)
    links = pages.web_links(_base_url(), slug)
    body = pages.index_html(definition, listing, links, _base_url(), searchable=True)
    newest = listing.issues[0].published if listing.issues else None
    return _cached(body, "text/html", newest)


@archive.get("/archive/<slug>/latest")
def latest(slug: str):
    definition = _list(slug)
    with _session() as session:
        day = store.latest(session, slug, store.today_of(definition))
    if day is None:
        abort(404)
    response = redirect(f"/archive/{slug}/{day.isoformat()}", code=302)
    response.headers["Cache-Control"] = "no-cache"  # tomorrow it points elsewhere
    return response


@archive.get("/archive/<slug>/<date>")
def issue(slug: str, date: str):
    definition, day = _list(slug), _day(date)
    today = store.today_of(definition)
    with _session() as session:
        located = store.located(session, slug, day, today)
        if located is None:
            abort(404)
        found, before, after = located
        clicks = definition.analytics.clicks  # the page says what is counted
        key = (found.id, found.content_hash, before, after, _base_url(), clicks, pages.PAGE_VERSION)

        def make() -> _Document:
            html = pages.issue_html(
                definition,
                store.page(session, found),
                pages.web_links(_base_url(), slug),
                _base_url(),
                before,
                after,
            )
            return _document(html)

        body = _issue_pages.get(key, make)
    return _cached(body, "text/html", found.published)


@archive.get("/archive/<slug>/<date>/card.png")
def card(slug: str, date: str):
    definition, day = _list(slug), _day(date)
    with _session() as session:
        found = store.summary(session, slug, day, store.today_of(definition))
        if found is None:
            abort(404)

        def make() -> _Document:
            # the card stored with this render, else one drawn now (issues stored before cards)
            return _document(store.card(session, found) or documents.drawn_card(definition, found))

        png = _cards.get((found.id, found.content_hash), make)
    return _cached(png, "image/png", found.published, CARD_MAX_AGE)


def _feed(slug: str, kind: str) -> Response:
    definition = _list(slug)
    with _session() as session:
        recent = store.everything(session, slug, store.today_of(definition), limit=store.FEED_SIZE)
        key = (tuple((i.id, i.content_hash) for i in recent), _base_url(), pages.PAGE_VERSION)

        def make() -> tuple[_Document, _Document]:
            full = [store.page(session, i) for i in recent]
            links = pages.web_links(_base_url(), slug)
            atom, json_feed = documents.feeds(definition, full, links, _base_url())
            return _document(atom), _document(json_feed)

        atom, json_feed = _feeds.get(key, make)
    newest = recent[0].published if recent else None
    return _cached(atom if kind == "atom" else json_feed, FEED_TYPES[kind], newest)


@archive.get("/archive/<slug>/feed.atom")
def feed_atom(slug: str):
    return _feed(slug, "atom")


@archive.get("/archive/<slug>/feed.json")
def feed_json(slug: str):
    return _feed(slug, "json")


@archive.get("/archive/<slug>/sitemap.xml")
def sitemap(slug: str):
    definition = _list(slug)
    with _session() as session:
        issues = store.everything(session, slug, store.today_of(definition))
    body = documents.sitemap(issues, pages.web_links(_base_url(), slug))
    return _cached(body, "application/xml", issues[0].published if issues else None)
