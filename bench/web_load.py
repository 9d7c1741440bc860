"""The load generator of bench/web.py, in its own process: locust's FastHttpUser (keep-alive
connections on gevent) as a library, the same clients for every URL.

Each URL is measured against the ceiling URL in alternating slices (ceiling, URL, ceiling, URL,
...), so that both see the same machine: on a shared 2-CPU machine the rate of one URL moves by
half within a minute with what other processes do, and a ceiling measured once, earlier, would
put that drift into the ratio. Before its first slice each URL gets a warm-up (the app's caches,
the connections); after each switch the requests still in flight for the other URL are let out
before counting starts.

Why locust: it is the maintained load generator on PyPI, and its FastHttpUser costs little CPU a
request (geventhttpclient, one process, no threads), which matters where the load generator and the
two gunicorn workers share two CPUs. Importing locust monkey-patches the standard library for
gevent, which is why this is a process of its own and bench/web.py never imports it.

    python bench/web_load.py URL SECONDS ROUNDS WARMUP USERS CEILING_PATH PATH...
    # one JSON line a PATH on stdout: {"path": {...}, "ceiling": {...}}
"""

from __future__ import annotations

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


@dataclass
class Tally:
    """What one URL's counted slices saw."""

    path: str
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    times_ms: list[float] = field(default_factory=list)
    size: int = 0

    def as_json(self) -> dict:
        ok = self.statuses.get(200, 0)
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
    """`users` clients that all request `path`, whichever it is at the time; answers are counted
    into `counting` while it is set and the answer is for its path."""

    def __init__(self, host: str, users: int) -> None:
        self.path, self.counting = "/", None
        load = self

        class Reader(FastHttpUser):
            wait_time = constant(0)  # as fast as the server answers: a throughput measurement

            @task
            def get(self) -> None:
                path = load.path
                self.client.get(path, name=path)

        Reader.host = host
        self.env = Environment(user_classes=[Reader])
        self.env.events.request.add_listener(self.record)
        self.runner = self.env.create_local_runner()
        self.runner.start(users, spawn_rate=users)
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
        if status == 200 and not tally.size:
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


def main() -> None:
    host, seconds, rounds, warmup, users, ceiling_path, *paths = sys.argv[1:]
    setup_logging("WARNING")
    load = Load(host, int(users))
    slice_seconds = float(seconds) / int(rounds)
    for path in paths:
        load.run(path, float(warmup))
        ceiling, target = Tally(ceiling_path), Tally(path)
        for _ in range(int(rounds)):
            load.run(ceiling_path, slice_seconds, ceiling)
            load.run(path, slice_seconds, target)
        print(json.dumps({"path": target.as_json(), "ceiling": ceiling.as_json()}), flush=True)
    load.runner.quit()


if __name__ == "__main__":
    main()
