"""The load generator of bench/web.py, in its own process: locust's FastHttpUser (keep-alive
connections on gevent), one path at a time, each for a warm-up and then a measured stretch.

Why locust: it is the maintained load generator on PyPI, and its FastHttpUser costs little CPU a
request (geventhttpclient, one process, no threads), which matters where the load generator and the
two gunicorn workers share two CPUs. It runs as a library here, not as its CLI, so that one
process measures every path back to back. Importing locust monkey-patches the standard library for
gevent, which is why this is a process of its own and bench/web.py never imports it.

    python bench/web_load.py URL SECONDS WARMUP USERS PATH...   # one JSON line a path on stdout
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment
from locust.log import setup_logging


def user_for(host: str, path: str) -> type[FastHttpUser]:
    class Reader(FastHttpUser):
        wait_time = constant(0)  # as fast as the server answers: a throughput measurement

        @task
        def get(self) -> None:
            self.client.get(path, name=path)

    Reader.host = host
    return Reader


def measure(host: str, path: str, seconds: float, warmup: float, users: int) -> dict:
    """Requests a second of `users` keep-alive clients on `path`, counted after `warmup`."""
    env = Environment(user_classes=[user_for(host, path)])
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    sizes: list[int] = []

    def record(response=None, exception=None, response_length=0, **_kw) -> None:
        if exception is not None and getattr(response, "status_code", 0) in (0, None):
            errors[type(exception).__name__] += 1
            return
        statuses[response.status_code] += 1
        if len(sizes) < 1:
            sizes.append(response_length)

    env.events.request.add_listener(record)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(warmup)
    env.stats.reset_all()
    statuses.clear()
    errors.clear()
    started = time.perf_counter()
    gevent.sleep(seconds)
    counted, failed = dict(statuses), dict(errors)
    elapsed = time.perf_counter() - started
    total = env.stats.total
    p50, p95 = total.get_response_time_percentile(0.5), total.get_response_time_percentile(0.95)
    runner.quit()
    ok = counted.get(200, 0)
    return {
        "path": path,
        "seconds": elapsed,
        "requests": sum(counted.values()) + sum(failed.values()),
        "ok": ok,
        "rate": ok / elapsed,
        "statuses": {str(k): v for k, v in sorted(counted.items())},
        "errors": failed,
        "p50_ms": p50,
        "p95_ms": p95,
        "bytes": sizes[0] if sizes else 0,
    }


def main() -> None:
    host, seconds, warmup, users = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    setup_logging("WARNING")
    for path in sys.argv[5:]:
        print(json.dumps(measure(host, path, seconds, warmup, int(users))), flush=True)


if __name__ == "__main__":
    main()
