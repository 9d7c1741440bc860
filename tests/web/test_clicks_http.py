"""Counted links over real HTTP (GET/HEAD /r/<token>; ARCHITECTURE.md, "Clicks"): each token
302s to exactly its stored URL and nothing else; bad tokens and hostile stored targets are the
400 page; readers and scanners (HEAD, scanner user agents, too soon after the hand-over) are
counted apart and the counts equal the requests made; the unique estimate from networks and user
agents; a failed write keeps its counts; nothing per person is stored and past days' salts go;
gunicorn with two workers restarting under load, then SIGTERM, and `mailer serve` on SIGTERM,
lose no click. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import logging
import re
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import delete, insert, inspect, select, text

from mailer.store.models import ClickSalt, ClickVisitor, SendLink
from mailer.tokens import ClickToken, make_click_token, make_token
from tests.conftest import DB_KINDS, SECRET
from tests.web.click_sends import URLS, click_send, click_token, counted, visitors, wait_for
from tests.web.conftest import dump_tables
from tests.web.servers import start_gunicorn, start_mailer_serve, stop

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
# User agents that link scanners, previewers and scripts send, some in odd case.
SCANNERS = (
    "Mozilla/5.0 (compatible; Barracuda Sentinel (EE))",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Proofpoint/1.0",
    "mimecast-url-scanner",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Microsoft Office Existence Discovery",
    "python-requests/2.32.3",
    "CURL/8.5.0",
    "Go-http-client/2.0",
    "WhatsApp/2.23.20.0 A",
)
READER, SCANNER = "reader", "scanner"


def follow(live, token: str, agent: str | None = BROWSER, method: str = "GET", **headers):
    """One click as a mail client makes it (requests drops a header whose value is None)."""
    call = live.head if method == "HEAD" else live.get
    return call(f"/r/{token}", headers={"User-Agent": agent, **headers})


def assert_bad_link(response) -> None:
    assert response.status_code == 400, (response.status_code, response.headers)
    assert "Location" not in response.headers
    if response.request.method == "GET":
        assert "This link does not work" in response.text


def flushed_counts(live, factory, expected: Counter) -> Counter:
    """link_clicks once the flusher has written `expected` (or what it holds after 20 s), then
    again after the counter is closed: nothing more may appear."""
    seen = wait_for(lambda: counted(factory), expected)
    live.app.extensions["mailer"]["clicks"].close()
    assert counted(factory) == seen
    return seen


# --- the redirect ---------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_every_counted_link_redirects_to_exactly_its_url(live, factory):
    first = click_send(factory)
    reordered = tuple(reversed(URLS))  # positions belong to a send: the same one elsewhere
    second = click_send(factory, reordered, day=dt.date(2026, 11, 19))
    for send_id, urls in ((first, URLS), (second, reordered)):
        for position, url in enumerate(urls, 1):
            token = click_token(send_id, position)
            for method in ("GET", "HEAD", "GET"):  # the second GET from the process's cache
                response = follow(live, token, method=method)
                assert response.status_code == 302, (send_id, position, method)
                assert response.headers["Location"] == url
                assert response.headers["Cache-Control"] == "no-store"
                assert response.headers["Referrer-Policy"] == "no-referrer"
                assert response.content == b""


def test_the_request_cannot_choose_the_target(live, factory):
    send_id = click_send(factory)
    token = click_token(send_id, 2)
    evil = "https://evil.example/phish"
    response = live.get(
        f"/r/{token}?url={evil}&next={evil}&redirect={evil}",
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example", "Referer": evil},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == URLS[1]
    for path in (f"/r/{token}/{evil}", f"/r/{token}/", f"/r/{token}/..", "/r/", "/r"):
        assert live.get(path).status_code == 404, path


def bad_tokens(good: str, send_id: int) -> dict[str, str]:
    """Every way a token in a mail gets broken or forged, by name."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    cases = {}
    for i, char in enumerate(good):
        for other in (
            alphabet[(alphabet.index(char) + 1) % 64],
            alphabet[alphabet.index(char) ^ 1],
        ):
            if other != char:
                cases[f"character {i} {char}->{other}"] = good[:i] + other + good[i + 1 :]
    for n in range(1, len(good)):
        cases[f"cut to {n}"] = good[:n]
    cases.update(
        {
            "a character more": good + "A",
            "padding": good + "==",
            "one padding": good + "=",
            "a dot inside": good[:8] + "." + good[8:],
            "another key": click_token(send_id, 1, key="another-secret-key-0123456789abcdef"),
            "garbage": "x" * len(good),
            "long": "A" * 5000,
            "dots": "..%2F..%2Fetc%2Fpasswd",
            "non-ASCII": "ü" * len(good),
            "an unsubscribe token": make_token(SECRET, "unsubscribe", 1, "ai-morning-post"),
        }
    )
    return cases


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_tampered_truncated_and_foreign_tokens_are_the_400_page(live, factory):
    send_id = click_send(factory)
    good = click_token(send_id, 1)
    cases = bad_tokens(good, send_id)
    assert len(cases) > 50
    for name, token in cases.items():
        response = follow(live, token)
        assert response.status_code in (400, 404), name  # 404: a "/" makes it another path
        assert "Location" not in response.headers, name
        if response.status_code == 400:
            assert "This link does not work" in response.text, name
    assert_bad_link(follow(live, cases["padding"], method="HEAD"))
    assert follow(live, good).headers["Location"] == URLS[0]
    # Only the good click was counted: a bad token counts nothing.
    assert flushed_counts(live, factory, Counter({(1, READER): 1})) == Counter({(1, READER): 1})


def test_a_rotated_key_still_verifies(serve, factory):
    live = serve(
        settings_changes={
            "secret_key": "the-new-secret-key-0123456789",
            "old_secret_keys": (SECRET,),
        }
    )
    send_id = click_send(factory)
    assert follow(live, click_token(send_id, 3)).headers["Location"] == URLS[2]
    fresh = click_token(send_id, 4, key="the-new-secret-key-0123456789")
    assert follow(live, fresh).headers["Location"] == URLS[3]
    assert_bad_link(follow(live, click_token(send_id, 4, key="a-third-secret-key-0123456789")))


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_a_token_of_no_stored_link_is_the_400_page(live, factory):
    send_id = click_send(factory)
    with factory.begin() as session:
        session.execute(delete(SendLink).where(SendLink.send_id == send_id, SendLink.position == 3))
    for token in (
        click_token(send_id, 3),  # its row deleted
        click_token(send_id, len(URLS) + 1),  # past the last position
        click_token(send_id, 0),
        click_token(send_id + 1000, 1),  # no such send
        make_click_token(SECRET, ClickToken(2**62, 2**40, 0)),
    ):
        assert_bad_link(follow(live, token))
        assert_bad_link(follow(live, token, method="HEAD"))
    assert follow(live, click_token(send_id, 2)).status_code == 302
    assert flushed_counts(live, factory, Counter({(2, READER): 1})) == Counter({(2, READER): 1})


HOSTILE_TARGETS = (
    "javascript:alert(document.domain)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//evil.example/protocol-relative",
    "/relative/path",
    "evil.example/no-scheme",
    "ftp://files.example/file",
    "mailto:someone@example.com",
    "https://",
    "https:///no-host",
    "https://a.example/\r\nSet-Cookie: stolen=1",
    "https://a.example/\nLocation: https://evil.example/",
    " https://leading-space.example/",
    "https://tab\t.example/",
    "https://a.example/nul\x00byte",
)


def test_a_stored_target_that_is_not_http_is_never_redirected_to(live, factory):
    urls = (*HOSTILE_TARGETS, "HTTPS://Upper.Example/Path?Q=1", "https://例え.jp/ä?q=ü#frag")
    send_id = click_send(factory, urls)
    for position, url in enumerate(HOSTILE_TARGETS, 1):
        response = follow(live, click_token(send_id, position))
        assert_bad_link(response)
        assert all("evil" not in value for value in response.headers.values()), url
    # Werkzeug writes a Location as an URI: scheme and host (case-insensitive) in lower case,
    # non-ASCII percent-encoded and the host in IDNA; the same address.
    upper = follow(live, click_token(send_id, len(HOSTILE_TARGETS) + 1))
    assert upper.headers["Location"] == "https://upper.example/Path?Q=1"
    unicode = follow(live, click_token(send_id, len(HOSTILE_TARGETS) + 2))
    assert unicode.headers["Location"] == "https://xn--r8jz45g.jp/%C3%A4?q=%C3%BC#frag"
    expected = Counter({(len(urls) - 1, READER): 1, (len(urls), READER): 1})
    assert flushed_counts(live, factory, expected) == expected


# --- what is counted ----------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_scanners_are_counted_apart_from_readers(serve, factory, lists_dir):
    listing = lists_dir / "ai-morning-post.toml"
    listing.write_text(
        listing.read_text() + "\n[analytics]\nclicks = true\nscanner_window_seconds = 120\n"
    )
    live = serve()
    send_id = click_send(factory)
    now = int(time.time())
    late, early, future = now - 200, now - 60, now + 3600
    clicks = [
        # position, token's hand-over, method, user agent, expected kind
        *[(1, None, "GET", BROWSER, READER)] * 3,
        *[(1, None, "GET", PHONE, READER)] * 2,
        (1, late, "GET", BROWSER, READER),  # past the list's 120 s window
        *[(1, None, "HEAD", BROWSER, SCANNER)] * 2,
        *[(1, None, "GET", agent, SCANNER) for agent in SCANNERS],
        (1, None, "GET", "", SCANNER),
        (1, None, "GET", None, SCANNER),  # no User-Agent at all
        *[(1, early, "GET", BROWSER, SCANNER)] * 2,  # within 120 s of the hand-over
        (1, future, "GET", PHONE, SCANNER),
        (2, early, "HEAD", PHONE, SCANNER),
        *[(2, None, "GET", PHONE, READER)] * 4,
        (3, None, "GET", SCANNERS[0].lower(), SCANNER),
    ]
    expected = Counter()
    for position, handed_over, method, agent, kind in clicks:
        response = follow(live, click_token(send_id, position, handed_over), agent, method)
        assert response.status_code == 302
        expected[position, kind] += 1
    assert expected[1, READER] == 6 and expected[1, SCANNER] == 19
    assert flushed_counts(live, factory, expected) == expected
    # Readers leave one visitor per (network, user agent); scanners none (all from 127.0.0.1).
    assert visitors(factory, send_id) == Counter({1: 2, 2: 1})


def get_from(url: str, source: str, token: str, agent: str = BROWSER) -> int:
    """A click from the loopback address `source` (127.0.0.0/8 is all this machine's): another
    network without a proxy in front."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=30, source_address=(source, 0)
    )
    try:
        conn.request("GET", f"/r/{token}", headers={"User-Agent": agent})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_unique_readers_are_estimated_from_network_and_user_agent(live, factory):
    send_id = click_send(factory)
    clicks = [
        # three networks (/24): three readers
        (1, "127.0.1.1", BROWSER),
        (1, "127.0.2.1", BROWSER),
        (1, "127.0.3.1", BROWSER),
        # one network and one user agent, twice: one reader (the /24 hides the host)
        (2, "127.0.4.1", BROWSER),
        (2, "127.0.4.200", BROWSER),
        # one network, two user agents: two
        (3, "127.0.5.1", BROWSER),
        (3, "127.0.5.1", PHONE),
        # the same reader on another link, and again the next morning's link: counted per link
        (4, "127.0.1.1", BROWSER),
    ]
    for position, source, agent in clicks:
        assert get_from(live.url, source, click_token(send_id, position), agent) == 302
    # Scanners from yet other networks add no reader.
    assert get_from(live.url, "127.0.6.1", click_token(send_id, 1), SCANNERS[0]) == 302
    assert wait_for(lambda: visitors(factory, send_id), Counter({1: 3, 2: 1, 3: 2, 4: 1})) == (
        Counter({1: 3, 2: 1, 3: 2, 4: 1})
    )
    expected = Counter(
        {(1, READER): 3, (2, READER): 2, (3, READER): 2, (4, READER): 1, (1, SCANNER): 1}
    )
    assert flushed_counts(live, factory, expected) == expected


def test_behind_a_proxy_the_forwarded_address_counts_and_ipv6_is_cut_at_48_bits(serve, factory):
    live = serve(settings_changes={"trusted_proxies": 1})
    send_id = click_send(factory)
    clicks = [
        (1, "2001:db8:1:1::1"),
        (1, "2001:db8:1:ffff::9"),  # the same /48
        (1, "2001:db8:2::1"),  # another
        (2, "::ffff:198.51.100.7"),  # IPv4-mapped: the IPv4 /24
        (2, "198.51.100.200"),
        (2, "198.51.101.1"),
    ]
    for position, address in clicks:
        response = follow(live, click_token(send_id, position), **{"X-Forwarded-For": address})
        assert response.status_code == 302
    assert wait_for(lambda: visitors(factory, send_id), Counter({1: 2, 2: 2})) == Counter(
        {1: 2, 2: 2}
    )


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_nothing_per_reader_is_stored_and_past_salts_are_deleted(serve, factory, engine):
    live = serve(settings_changes={"trusted_proxies": 1})
    send_id = click_send(factory)
    today = dt.datetime.now(dt.UTC).date()
    with factory.begin() as session:
        session.execute(
            insert(ClickSalt),
            [
                dict(send_id=send_id, day=today - dt.timedelta(days=1), salt="1" * 64),
                dict(send_id=send_id, day=today - dt.timedelta(days=30), salt="2" * 64),
            ],
        )
    before = dump_tables(engine)
    address, agent = "203.0.113.77", "Mozilla/5.0 (X11) UniqueAgent/7.7"
    for position in (1, 2, 2):
        response = follow(
            live, click_token(send_id, position), agent, **{"X-Forwarded-For": address}
        )
        assert response.status_code == 302

    def salts():
        with factory() as session:
            return sorted(session.execute(select(ClickSalt.send_id, ClickSalt.day)).all())

    assert wait_for(salts, [(send_id, today)]) == [(send_id, today)]
    assert wait_for(lambda: visitors(factory, send_id), Counter({1: 1, 2: 1})) == Counter(
        {1: 1, 2: 1}
    )
    live.app.extensions["mailer"]["clicks"].close()
    after = dump_tables(engine)
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"link_clicks", "click_visitors", "click_salts"}
    columns = {
        name: [c["name"] for c in inspect(engine).get_columns(name)]
        for name in ("send_links", "link_clicks", "click_visitors", "click_salts")
    }
    assert columns == {
        "send_links": ["send_id", "position", "url", "section"],
        "link_clicks": ["send_id", "position", "hour", "kind", "clicks"],
        "click_visitors": ["send_id", "position", "day", "visitor"],
        "click_salts": ["send_id", "day", "salt"],
    }
    everything = repr(after)
    for trace in (address, "203.0.113", agent, "UniqueAgent"):
        assert trace not in everything
    network = "203.0.113.0/24"
    with factory() as session:
        stored = set(session.scalars(select(ClickVisitor.visitor)))
        [salt] = session.scalars(select(ClickSalt.salt))
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in stored)
    unsalted = hashlib.sha256(f"{network}\0{agent}".encode()).hexdigest()[:32]
    assert unsalted not in stored
    # The documented construction: only today's salt, deleted tomorrow, makes the hash again.
    salted = hmac.new(salt.encode(), f"{network}\0{agent}".encode(), hashlib.sha256).hexdigest()
    assert stored == {salted[:32]}


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_a_failed_write_keeps_the_counts_for_the_next(live, factory, engine, caplog):
    caplog.set_level(logging.INFO, logger="mailer.web.click_counter")
    send_id = click_send(factory)
    assert follow(live, click_token(send_id, 1)).status_code == 302
    assert wait_for(lambda: counted(factory), Counter({(1, READER): 1})) == Counter(
        {(1, READER): 1}
    )
    with engine.begin() as conn:  # the table the flusher writes is gone for a while
        conn.execute(text("ALTER TABLE link_clicks RENAME TO link_clicks_away"))
    for _ in range(5):
        assert follow(live, click_token(send_id, 2)).status_code == 302
    assert follow(live, click_token(send_id, 2), method="HEAD").status_code == 302

    def failures():
        return [r for r in caplog.records if "click counts not written" in r.getMessage()]

    assert wait_for(lambda: bool(failures()), True)
    kept = re.search(r"\((\d+) clicks kept for the next try", failures()[0].getMessage())
    assert kept and 1 <= int(kept.group(1)) <= 6, failures()[0].getMessage()
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE link_clicks_away RENAME TO link_clicks"))
    expected = Counter({(1, READER): 1, (2, READER): 5, (2, SCANNER): 1})
    assert flushed_counts(live, factory, expected) == expected
    assert any("written again after" in r.getMessage() for r in caplog.records)


# --- graceful stops -------------------------------------------------------------------------


def click_mix(total: int) -> list[tuple[str, int, str, str]]:
    """`total` clicks over every link: readers, HEADs and a scanner agent, in a fixed pattern."""
    kinds = [("GET", BROWSER, READER), ("GET", PHONE, READER), ("HEAD", BROWSER, SCANNER)]
    kinds.append(("GET", SCANNERS[4], SCANNER))
    return [
        (method, 1 + n % len(URLS), agent, kind)
        for n, (method, agent, kind) in enumerate(kinds[n % len(kinds)] for n in range(total))
    ]


def click_all(url: str, send_id: int, mix, threads: int = 32) -> Counter:
    def one(click) -> tuple[int, str, int]:
        method, position, agent, kind = click
        response = requests.request(
            method,
            f"{url}/r/{click_token(send_id, position)}",
            headers={"User-Agent": agent},
            allow_redirects=False,
            timeout=60,
        )
        return position, kind, response.status_code

    with ThreadPoolExecutor(threads) as pool:
        answers = list(pool.map(one, mix))
    assert Counter(status for _, _, status in answers) == Counter({302: len(mix)})
    return Counter((position, kind) for position, kind, _ in answers)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_gunicorn_workers_restarting_under_load_then_sigterm_lose_no_click(
    database_url, engine, factory, tmp_path
):
    # Each worker restarts gracefully after 40-60 requests, so the clicks are spread over many
    # worker exits; the last ones are written when SIGTERM stops the server.
    send_id = click_send(factory)
    mix = click_mix(600)
    extra = ("--max-requests", "40", "--max-requests-jitter", "20")
    proc, url = start_gunicorn(database_url, tmp_path, "mailer.web:create_app()", extra)
    try:
        made = click_all(url, send_id, mix)
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        stop(proc)
    assert proc.returncode == 0, output[-2000:]
    assert sum(made.values()) == 600
    assert counted(factory, send_id) == made
    assert "could not be written" not in output and "not written" not in output, output[-2000:]
    # Every worker hashed with the same salt: one visitor per (link, user agent) of the readers.
    readers = {(position, agent) for _, position, agent, kind in mix if kind == READER}
    assert visitors(factory, send_id) == Counter(position for position, _ in readers)


@pytest.mark.slow
def test_gunicorn_preloaded_app_counts_in_each_forked_worker(
    database_url, engine, factory, tmp_path
):
    # --preload builds the app (and starts its flusher) in the arbiter, then forks: each worker
    # must count afresh, start its own flusher and write its own clicks at exit.
    send_id = click_send(factory)
    extra = ("--preload",)
    proc, url = start_gunicorn(database_url, tmp_path, "mailer.web:create_app()", extra)
    try:
        made = click_all(url, send_id, click_mix(200))
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        stop(proc)
    assert proc.returncode == 0, output[-2000:]
    assert counted(factory, send_id) == made


def test_mailer_serve_writes_its_clicks_on_sigterm(database_url, engine, factory, tmp_path):
    send_id = click_send(factory)
    proc, url = start_mailer_serve(database_url, tmp_path)
    try:
        made = click_all(url, send_id, click_mix(120), threads=8)
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=30)[0].decode()
    finally:
        stop(proc)
    assert proc.returncode == 0, output[-2000:]
    assert counted(factory, send_id) == made
