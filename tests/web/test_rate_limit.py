"""The subscribe rate limit is shared by every worker through the database, and knows the client
behind a trusted proxy (and only behind one)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from mailer.store.db import session_factory
from mailer.store.models import RateLimitWindow
from mailer.web.ratelimit import RateLimiter
from tests.conftest import DB_KINDS, SECRET
from tests.web.test_lifecycle_http import subscribe

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_two_workers_share_one_limit(engine):
    clock = Clock()
    workers = [RateLimiter(session_factory(engine), SECRET, 3, 600.0, clock) for _ in range(2)]
    answers = [workers[i % 2].allow("203.0.113.7") for i in range(8)]
    assert answers == [True, True, True, False, False, False, False, False]
    assert workers[0].allow("198.51.100.1")  # another client has its own count


def test_the_window_slides(engine):
    clock = Clock(1_800_000_000.0 - 1_800_000_000.0 % 600)  # the start of a window
    limiter = RateLimiter(session_factory(engine), SECRET, 3, 600.0, clock)
    assert [limiter.allow("c") for _ in range(3)] == [True, True, True]
    clock.now += 600 + 60  # next window, 10 % in: the previous 3 hits still weigh 2.7
    assert limiter.allow("c") is False
    clock.now += 600  # two windows on: all forgotten
    assert limiter.allow("c") is True


def test_concurrent_requests_never_take_more_than_the_limit(engine):
    limiter = RateLimiter(session_factory(engine), SECRET, 5, 600.0, Clock())
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: limiter.allow("192.0.2.50"), range(24)))
    assert answers.count(True) == 5


def test_the_table_holds_no_ip_address(engine, factory):
    RateLimiter(factory, SECRET, 3, 600.0).allow("192.0.2.99")
    with factory() as session:
        keys = list(session.scalars(select(RateLimitWindow.key)))
    assert len(keys) == 1 and "192.0.2" not in keys[0] and len(keys[0]) == 64


def test_bad_limits_are_refused(factory):
    with pytest.raises(ValueError, match="at least 1 per positive window"):
        RateLimiter(factory, SECRET, 0, 600.0)


def test_forwarded_for_counts_only_behind_a_trusted_proxy(serve, factory):
    direct = serve(subscribe_limit=(2, 600.0))
    forged = [subscribe(direct, f"f{i}@example.com").status_code for i in range(2)]
    forged += [
        subscribe(direct, "x@example.com", headers={"X-Forwarded-For": "198.51.100.9"}).status_code
    ]
    assert forged == [200, 200, 429]  # a made-up X-Forwarded-For does not buy a fresh limit

    proxied = serve(subscribe_limit=(2, 600.0), settings_changes={"trusted_proxies": 1})
    codes = {
        ip: [
            subscribe(proxied, f"p{i}@{n}.example", headers={"X-Forwarded-For": ip}).status_code
            for i in range(3)
        ]
        for n, ip in enumerate(("198.51.100.10", "198.51.100.11"))
    }
    assert codes == {"198.51.100.10": [200, 200, 429], "198.51.100.11": [200, 200, 429]}


def test_ipv6_clients_count_by_their_64(serve):
    """One home or server gets a whole /64 and can pick any address in it: the limit is per /64."""
    proxied = serve(subscribe_limit=(2, 600.0), settings_changes={"trusted_proxies": 1})

    def post(email: str, ip: str) -> int:
        return subscribe(proxied, email, headers={"X-Forwarded-For": ip}).status_code

    same_64 = [
        post("v1@example.com", "2001:db8:1:2::1"),
        post("v2@example.com", "2001:db8:1:2:ffff:1:2:3"),
        post("v3@example.com", "2001:db8:1:2:abcd::9"),
    ]
    assert same_64 == [200, 200, 429]
    assert [
        post("w1@example.com", "2001:db8:1:3::1"),
        post("w2@example.com", "2001:db8:1:3::2"),
    ] == [200, 200]
    # An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) is that IPv4 client.
    assert [
        post("x1@example.com", "198.51.100.20"),
        post("x2@example.com", "::ffff:198.51.100.20"),
        post("x3@example.com", "198.51.100.20"),
    ] == [200, 200, 429]
