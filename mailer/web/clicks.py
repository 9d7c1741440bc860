"""GET /r/<token>: a counted link (ARCHITECTURE.md, "Clicks").

The token (tokens.py, ClickToken) names a send, a link position and the second the message was
handed over; the target is that send's link at that position in send_links, and nothing else:
the request cannot name a URL, so this is no open redirect. A token that is tampered, cut short,
signed by no key of ours or names no stored link is the 400 page, never a redirect; a stored
target that is not an absolute http(s) URL is refused the same way (it cannot come from a render,
but a redirect must never lead to javascript: or data:).

A good token is answered at once with a 302 to its URL (no-store, no Referer); the click is
counted in memory (web/click_counter.py) as a reader's or a scanner's (track/click_counts.py).
A send's links never change, so each (send, position) is read from the database once per process
and kept (the last LINKS_KEPT).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.content.lists import AnalyticsSettings, load_list
from mailer.errors import MailerError
from mailer.store.models import LinkKind, MailingList, Send, SendLink
from mailer.tokens import TokenError, read_click_token
from mailer.track.click_counts import (
    USER_AGENT_MAX,
    CountKey,
    VisitorKey,
    click_kind,
    day_of,
    hour_of,
    network_of,
)
from mailer.web import views
from mailer.web.click_counter import ClickCounter

log = logging.getLogger(__name__)
clicks = Blueprint("clicks", __name__)
LINKS_KEPT = 4096
_INT_MAX = 2**31 - 1  # send_links' columns are INTEGER: a bigger number names no row


@dataclass(frozen=True)
class Target:
    url: str  # as the Location header carries it
    scanner_window_seconds: int  # of the send's list


class LinkTargets:
    """(send id, position) -> Target, read once and kept (the last `size`), under a lock:
    gunicorn's threads share it."""

    def __init__(self, factory: sessionmaker[Session], lists_dir: Path, size: int = LINKS_KEPT):
        self._factory, self._lists_dir, self._size = factory, lists_dir, size
        self._kept: OrderedDict[tuple[int, int], Target] = OrderedDict()
        self._windows: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, send_id: int, position: int) -> Target | None:
        if not (0 < send_id <= _INT_MAX and 0 < position <= _INT_MAX):
            return None  # PostgreSQL would refuse the comparison with an INTEGER column
        key = (send_id, position)
        with self._lock:
            target = self._kept.get(key)
            if target is not None:
                self._kept.move_to_end(key)
                return target
        target = self._read(send_id, position)
        if target is not None:
            with self._lock:
                self._kept[key] = target
                while len(self._kept) > self._size:
                    self._kept.popitem(last=False)
        return target

    def _read(self, send_id: int, position: int) -> Target | None:
        with self._factory() as session:
            row = session.execute(
                select(SendLink.url, MailingList.slug)
                .join(Send, Send.id == SendLink.send_id)
                .join(MailingList, MailingList.id == Send.list_id)
                .where(SendLink.send_id == send_id, SendLink.position == position)
            ).first()
        if row is None:
            return None
        location = redirect_location(row.url)
        if location is None:
            log.warning("send %d link %d: stored target is not an http(s) URL", send_id, position)
            return None
        return Target(location, self._window(row.slug))

    def _window(self, slug: str) -> int:
        if slug not in self._windows:
            try:
                analytics = load_list(self._lists_dir, slug).analytics
            except MailerError as exc:  # the list file was removed or broken since the send
                log.warning("list %s: %s; the default scanner window is used", slug, exc)
                analytics = AnalyticsSettings()
            self._windows[slug] = analytics.scanner_window_seconds
        return self._windows[slug]


def redirect_location(url: str) -> str | None:
    """The Location for a stored target: the URL itself; None for anything but an absolute
    http(s) URL, and for one with control characters or spaces. (Werkzeug writes every Location
    as an URI: non-ASCII characters percent-encoded, the host in IDNA, scheme and host in lower
    case, which name the same address.)"""
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


@clicks.route("/r/<token>", methods=["GET", "HEAD"])
def follow(token: str):
    ctx = current_app.extensions["mailer"]
    settings = ctx["settings"]
    try:
        click = read_click_token(settings.secret_key, token, settings.old_secret_keys)
    except TokenError:
        return views.bad_link()
    target = ctx["click_targets"].get(click.send_id, click.position)
    if target is None:
        return views.bad_link()
    count(ctx["clicks"], click.send_id, click.position, click.handed_over, target)
    response = Response(status=302)
    response.headers["Location"] = target.url
    response.headers["Cache-Control"] = "no-store"  # every click reaches us, none a cached copy
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays out of the target's logs
    return response


def count(
    counter: ClickCounter, send_id: int, position: int, handed_over: int, target: Target
) -> None:
    """Count this request's click: its kind, and for a reader the visitor to hash."""
    now = time.time()
    agent = request.headers.get("User-Agent", "")
    kind = click_kind(request.method, agent, now, handed_over, target.scanner_window_seconds)
    visitor = None
    if kind is LinkKind.READER:
        network = network_of(request.remote_addr)
        visitor = VisitorKey(send_id, position, day_of(now), network, agent[:USER_AGENT_MAX])
    counter.add(CountKey(send_id, position, hour_of(now), kind.value), visitor)
