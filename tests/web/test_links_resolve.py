"""Every link a reader can meet resolves, the way a link checker finds out: the five seed issues are
sent
to the sample list through the file transport (the real render and personalisation, with each
reader's
unsubscribe and manage links) and someone subscribes through the form (a confirmation mail), then a
small crawler follows every internal link of every mail part and of every page it reaches. Every GET
answers 2xx (or redirects to a 2xx), no GET changes the database,
and every external link is absolute https."""

from __future__ import annotations

import email
import email.policy
import re
from collections import deque
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import pytest
import requests

from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.render.qr import QR_CID
from mailer.send.campaign import SendOptions, run_send
from mailer.transports import FileTransport
from tests.conftest import DB_KINDS, REPO
from tests.web.conftest import dump_tables
from tests.web.test_lifecycle_http import subscribe

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
SEEDS = sorted((REPO / "issues" / "ai-morning-post").glob("*.md"))
MAX_URLS = 2000  # the crawl's bound: far above what five issues to 21 readers link to
_TEXT_URL_RE = re.compile(r"\b(?:https?|ftp)://[^\s<>\"')]+")
_HEADER_URL_RE = re.compile(r"<(https?://[^>]+)>")


class Links(HTMLParser):
    """The targets of href, src and action attributes, with each form's method."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.gets: list[str] = []
        self.posts: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name in ("href", "src"):
            if values.get(name):
                self.gets.append(values[name])
        if tag == "form":
            target = values.get("action") or ""
            (self.posts if (values.get("method") or "get").lower() == "post" else self.gets).append(
                target
            )


def html_links(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    parser.close()
    return parser


def mail_links(message) -> list[str]:
    """Every URL in a mail: its HTML part's attributes, its text part, its List-Unsubscribe
    header."""
    urls = html_links(message.get_body(("html",)).get_content()).gets
    urls += _TEXT_URL_RE.findall(message.get_body(("plain",)).get_content())
    urls += _HEADER_URL_RE.findall(str(message["List-Unsubscribe"] or ""))
    return urls


def is_inline_part(url: str) -> bool:
    return url == f"cid:{QR_CID}"


def send_the_seeds(live, factory) -> list[Path]:
    list_def = load_list(live.settings.lists_dir, "ai-morning-post")
    transport = FileTransport(live.settings.outbox_dir)
    for seed in SEEDS:
        content = load_issue_for(live.settings, list_def, str(seed), factory=factory)
        summary = run_send(
            factory, live.settings, list_def, content, transport, SendOptions(rate=1000.0)
        )
        assert summary.state == "done" and summary.counts == {"sent": 21}, summary.line()
    return sorted(Path(live.settings.outbox_dir).rglob("*.eml"))


class Crawl:
    def __init__(self, base: str):
        self.base = base
        self.seen: set[str] = set()
        self.queue: deque[str] = deque()
        self.external: set[str] = set()
        self.post_targets: set[str] = set()
        self.failures: list[str] = []
        self.pages = 0

    def offer(self, url: str, source: str) -> None:
        url = urldefrag(urljoin(source, url)).url
        if url.startswith("data:") or is_inline_part(url):
            return
        if not url.startswith(self.base + "/") and url != self.base:
            self.external.add(url)
        elif url not in self.seen:
            assert len(self.seen) < MAX_URLS, "the crawl found more URLs than it is bounded to"
            self.seen.add(url)
            self.queue.append(url)

    def run(self, http: requests.Session) -> None:
        while self.queue:
            self.visit(http, self.queue.popleft())
        for url in sorted(self.post_targets):
            # A form's POST target exists and takes POST; OPTIONS asks without changing anything.
            answer = http.options(url, timeout=30)
            if answer.status_code != 200 or "POST" not in answer.headers.get("Allow", ""):
                self.failures.append(
                    f"OPTIONS {url} -> {answer.status_code} {answer.headers.get('Allow')}"
                )

    def visit(self, http: requests.Session, url: str) -> None:
        answer = http.get(url, allow_redirects=False, timeout=30)
        self.pages += 1
        if answer.is_redirect:
            self.offer(answer.headers["Location"], url)
            return
        if not 200 <= answer.status_code < 300:
            self.failures.append(f"GET {url} -> {answer.status_code}")
            return
        if answer.headers.get("Content-Type", "").startswith("text/html"):
            links = html_links(answer.text)
            for target in links.gets:
                self.offer(target, url)
            for target in links.posts:
                target = urldefrag(urljoin(url, target)).url
                (self.post_targets if target.startswith(self.base) else self.external).add(target)


def test_every_link_in_the_sent_seeds_resolves_and_no_get_changes_state(
    serve, factory, engine, sample_list
):
    live = serve()
    files = send_the_seeds(live, factory)
    assert len(files) == 5 * 21
    assert subscribe(live, "newcomer@example.com").status_code == 200
    [confirmation] = [path for path in live.outbox_files() if "confirmations" in path.parts]
    crawl = Crawl(live.url)
    per_mail: list[set[str]] = []
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        urls = mail_links(message)
        # A mail has no base URL: a relative link in it leads nowhere.
        assert [u for u in urls if not u.startswith(("https://", live.url, "cid:"))] == []
        internal = {u for u in urls if u.startswith(live.url)}
        per_mail.append(internal)
        for url in urls:
            crawl.offer(url, live.url)
    # Each mail links to its archive page and its reader's unsubscribe and manage pages (the
    # subscribe
    # page too, except in the issues whose call to action is the Telegram channel).
    assert all(len(internal) >= 3 for internal in per_mail), min(per_mail, key=len)
    assert any(any("/subscribe/" in u for u in internal) for internal in per_mail)
    confirmation_urls = mail_links(
        email.message_from_bytes(confirmation.read_bytes(), policy=email.policy.default)
    )
    assert any("/confirm/" in u for u in confirmation_urls)
    for url in confirmation_urls:
        crawl.offer(url, live.url)
    # every reader's own links (tokens signed in the same second are the same: at least one per
    # reader)
    assert (
        sum("/unsubscribe/" in u for u in crawl.seen) >= 21
        and sum("/manage/" in u for u in crawl.seen) >= 21
    )

    before = dump_tables(engine)
    with requests.Session() as http:
        crawl.run(http)
    assert crawl.failures == []
    assert dump_tables(engine) == before
    assert crawl.pages >= len(crawl.seen) >= 21 * 2 + 5 + 1
    assert {u.rsplit("/", 1)[0] for u in crawl.seen if "/archive/" in u} == {
        f"{live.url}/archive/ai-morning-post"
    }
    assert f"{live.url}/subscribe/ai-morning-post" in crawl.seen
    assert any("/confirm/" in u for u in crawl.post_targets)  # the confirmation page's button
    assert any("/unsubscribe/" in u for u in crawl.post_targets) and any(
        "/manage/" in u for u in crawl.post_targets
    )

    not_https = sorted(u for u in crawl.external if not u.startswith("https://"))
    assert not_https == [], not_https
    assert crawl.external  # the issues do link out
