"""What the load generators bench/web_load.py and bench/redirect_load.py share: locust's
FastHttpUser (keep-alive connections on gevent) as a library, the same clients for every URL, and
each URL measured against a ceiling URL in alternating slices.

Alternating slices (ceiling, URL, ceiling, URL, ...) let both see the same machine: on a shared
2-CPU machine the rate of one URL moves by half within a minute with what other processes do, and
a ceiling measured once, earlier, would put that drift into the ratio. Before its first slice each
URL gets a warm-up (the app's caches, the connections); after each switch the requests still in
flight for the other URL are let out before counting starts.

Why locust: it is the maintained load generator on PyPI, and its FastHttpUser costs little CPU a
request (geventhttpclient, one process, no threads), which matters where the load generator and the
two gunicorn workers share two CPUs. Importing locust monkey-patches the standard library for
gevent, which is why the load runs in a process of its own and bench/web.py, bench/redirect.py
(bench/harness.py) never import this.

A load generator's command line starts with URL SECONDS ROUNDS WARMUP USERS (Plan), its own
arguments after them.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment
from locust.log import setup_logging

SETTLE = 0.2  # seconds after a switch before counting: the other URL's requests finish


@dataclass(frozen=True)
class Plan:
    """How long and how hard: the first five arguments of a load generator."""

    host: str
    seconds: float  # counted a URL, in `rounds` slices
    rounds: int
    warmup: float  # seconds a URL before its first slice
    users: int  # keep-alive clients

    @classmethod
    def parse(cls, argv: list[str]) -> tuple[Plan, list[str]]:
        """The plan from URL SECONDS ROUNDS WARMUP USERS, and the arguments after them."""
        host, seconds, rounds, warmup, users, *rest = argv
        return cls(host, float(seconds), int(rounds), float(warmup), int(users)), rest


@dataclass
class Tally:
    """What one URL's counted slices saw; `ok_status` is the answer that makes its rate."""

    path: str
    ok_status: int = 200
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    times_ms: list[float] = field(default_factory=list)
    size: int = 0

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
            "bytes": self.size,
        }


class Load:
    """`plan.users` clients that each call `request(client, path)` again and again, `path` being
    the one of the moment (`path` at the start); answers are counted into `counting` while it is
    set and the answer is for its path. `observe`, if given, sees every answer too (locust's
    request event)."""

    def __init__(
        self,
        plan: Plan,
        path: str,
        request: Callable[[object, str], None],
        observe: Callable[..., None] | None = None,
    ) -> None:
        self.plan, self.path, self.counting = plan, path, None
        load = self

        class Reader(FastHttpUser):
            wait_time = constant(0)  # as fast as the server answers: a throughput measurement

            @task
            def one(self) -> None:
                request(self.client, load.path)

        Reader.host = plan.host
        setup_logging("WARNING")
        self.env = Environment(user_classes=[Reader])
        self.env.events.request.add_listener(self.record)
        if observe is not None:
            self.env.events.request.add_listener(observe)
        self.runner = self.env.create_local_runner()
        self.runner.start(plan.users, spawn_rate=plan.users)
        gevent.sleep(1.5)  # spawn_rate is users a second: all of them are running after 1 s

    def record(self, name=None, response=None, exception=None, response_time=0, **_kw) -> None:
        tally = self.counting
        if tally is None or name != tally.path:
            return
        status = getattr(response, "status_code", 0) or 0
        if exception is not None and status == 0:
            tally.errors[type(exception).__name__] += 1
            return
        tally.statuses[status] += 1
        tally.times_ms.append(response_time)
        if status == tally.ok_status and not tally.size:
            tally.size = len(response.content or b"")

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

    def measure(self, path: str, ok_status: int, ceiling_path: str) -> tuple[Tally, Tally]:
        """A warm-up on `path`, then the plan's rounds of a ceiling slice and a `path` slice;
        (the tally of `path`, the ceiling's)."""
        self.run(path, self.plan.warmup)
        target, ceiling = Tally(path, ok_status), Tally(ceiling_path)
        slice_seconds = self.plan.seconds / self.plan.rounds
        for _ in range(self.plan.rounds):
            self.run(ceiling_path, slice_seconds, ceiling)
            self.run(path, slice_seconds, target)
        return target, ceiling

    def quit(self) -> None:
        self.runner.quit()
