"""The load generator of bench/redirect.py, in its own process: locust's FastHttpUser (keep-alive
connections on gevent) as a library, the same clients for both URLs.

The clients click counted links (a cycle of tokens, redirects not followed), as readers behind the
TLS proxy would: a browser user agent from a small set and an X-Forwarded-For from a few hundred
networks, one click in ten a HEAD (a scanner). The redirect is measured against /healthz in
alternating slices (ceiling, redirects, ceiling, ...), so that both see the same machine (on a
shared 2-CPU machine a rate moves by half within a minute with what other processes do); after
each switch the requests still in flight for the other URL are let out before counting starts.

Every 302 to a click is counted, in the slices or not (the warm-up, the switches): bench/redirect.py
compares that total with what the database holds once the server has stopped.

Why locust: the maintained load generator on PyPI, and its FastHttpUser costs little CPU a request
(geventhttpclient, one process, no threads), which matters where the load generator and the two
gunicorn workers share two CPUs. Importing locust monkey-patches the standard library for gevent,
which is why this is a process of its own and bench/redirect.py never imports it.

    python bench/redirect_load.py URL SECONDS ROUNDS WARMUP USERS TOKENS_FILE
    # one JSON line on stdout: {"redirect": {...}, "ceiling": {...}, "clicks": {...}}
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment
from locust.log import setup_logging

SETTLE = 0.2  # seconds after a switch before counting: the other URL's requests finish
CEILING, CLICK = "/healthz", "/r/"
AGENTS = tuple(
    f"Mozilla/5.0 (X11; Linux x86_64; rv:{version}.0) Gecko/20100101 Firefox/{version}.0"
    for version in range(120, 128)
)
NETWORKS = tuple(f"198.{18 + n // 250}.{n % 250}.{1 + n % 200}" for n in range(400))
HEAD_EVERY = 10  # one click in ten a HEAD (counted as a scanner's)


@dataclass
class Tally:
    """What one URL's counted slices saw."""

    path: str
    ok_status: int
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    times_ms: list[float] = field(default_factory=list)

    def as_json(self) -> dict:
        ok = self.statuses.get(self.ok_status, 0)
        cuts = statistics.quantiles(self.times_ms, n=20) if len(self.times_ms) > 1 else [0] * 19
        return {
            "path": self.path,
            "seconds": self.seconds,
            "ok": ok,
            "rate": ok / self.seconds if self.seconds else 0.0,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
            "p50_ms": cuts[9],
            "p95_ms": cuts[18],
        }


@dataclass
class Clicks:
    """Every click's answer over the whole run, by method."""

    redirected: Counter = field(default_factory=Counter)  # "GET"/"HEAD" -> 302s
    other: Counter = field(default_factory=Counter)  # any other status, by status
    errors: Counter = field(default_factory=Counter)  # no answer, by exception


class Load:
    def __init__(self, host: str, users: int, tokens: list[str]) -> None:
        self.path, self.counting, self.clicks = CEILING, None, Clicks()
        clicks = itertools.count()
        load = self

        class Reader(FastHttpUser):
            wait_time = constant(0)  # as fast as the server answers: a throughput measurement

            @task
            def request(self) -> None:
                if load.path == CEILING:
                    self.client.get(CEILING, name=CEILING)
                    return
                n = next(clicks)
                self.client.request(
                    "HEAD" if n % HEAD_EVERY == 0 else "GET",
                    CLICK + tokens[n % len(tokens)],
                    name=CLICK,
                    allow_redirects=False,
                    headers={
                        "User-Agent": AGENTS[n % len(AGENTS)],
                        "X-Forwarded-For": NETWORKS[(n // len(tokens)) % len(NETWORKS)],
                    },
                    context={"method": "HEAD" if n % HEAD_EVERY == 0 else "GET"},
                )

        Reader.host = host
        self.env = Environment(user_classes=[Reader])
        self.env.events.request.add_listener(self.record)
        self.runner = self.env.create_local_runner()
        self.runner.start(users, spawn_rate=users)
        gevent.sleep(1.5)  # spawn_rate is users a second: all of them are running after 1 s

    def record(
        self, name=None, response=None, exception=None, response_time=0, context=None, **_kw
    ) -> None:
        status = getattr(response, "status_code", 0) or 0
        if name == CLICK:
            if status == 302:
                self.clicks.redirected[(context or {}).get("method", "GET")] += 1
            elif status:
                self.clicks.other[status] += 1
            else:
                self.clicks.errors[type(exception).__name__] += 1
        tally = self.counting
        if tally is None or name != tally.path:
            return
        if exception is not None and status == 0:
            tally.errors[type(exception).__name__] += 1
            return
        tally.statuses[status] += 1
        tally.times_ms.append(response_time)

    def run(self, path: str, seconds: float, tally: Tally | None = None) -> None:
        """Request `path` for `seconds`, counted into `tally` (none: a warm-up)."""
        self.path, self.counting = path, None
        gevent.sleep(SETTLE)
        self.counting = tally
        started = time.perf_counter()
        gevent.sleep(seconds)
        self.counting = None
        if tally is not None:
            tally.seconds += time.perf_counter() - started


def main() -> None:
    host, seconds, rounds, warmup, users, tokens_file = sys.argv[1:]
    setup_logging("WARNING")
    with open(tokens_file) as handle:
        tokens = handle.read().split()
    load = Load(host, int(users), tokens)
    slice_seconds = float(seconds) / int(rounds)
    load.run(CLICK, float(warmup))
    ceiling, redirect = Tally(CEILING, 200), Tally(CLICK, 302)
    for _ in range(int(rounds)):
        load.run(CEILING, slice_seconds, ceiling)
        load.run(CLICK, slice_seconds, redirect)
    # Back to /healthz before stopping: the clicks in flight are answered and recorded (a click
    # the server counted but the client never saw would look like one counted twice).
    load.run(CEILING, 1.0)
    load.runner.quit()
    clicks = load.clicks
    print(
        json.dumps(
            {
                "redirect": redirect.as_json(),
                "ceiling": ceiling.as_json(),
                "clicks": {
                    "redirected": dict(clicks.redirected),
                    "other": {str(k): v for k, v in clicks.other.items()},
                    "errors": dict(clicks.errors),
                },
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
