"""The load generator of bench/redirect.py, in its own process (bench/load.py: locust's
keep-alive clients, alternating slices, and why).

The clients click counted links (a cycle of tokens, redirects not followed), as readers behind the
TLS proxy would: a browser user agent from a small set and an X-Forwarded-For from a few hundred
networks, one click in ten a HEAD (a scanner). The redirect gets a warm-up, then its slices
alternate with /healthz's (the ceiling).

Every 302 to a click is counted, in the slices or not (the warm-up, the switches): bench/redirect.py
compares that total with what the database holds once the server has stopped.

    python bench/redirect_load.py URL SECONDS ROUNDS WARMUP USERS TOKENS_FILE
    # one JSON line on stdout: {"redirect": {...}, "ceiling": {...}, "clicks": {...}}
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import Load, Plan  # noqa: E402

CEILING, CLICK = "/healthz", "/r/"
AGENTS = tuple(
    f"Mozilla/5.0 (X11; Linux x86_64; rv:{version}.0) Gecko/20100101 Firefox/{version}.0"
    for version in range(120, 128)
)
NETWORKS = tuple(f"198.{18 + n // 250}.{n % 250}.{1 + n % 200}" for n in range(400))
HEAD_EVERY = 10  # one click in ten a HEAD (counted as a scanner's)


@dataclass
class Clicks:
    """Every click's answer over the whole run, by method."""

    redirected: Counter = field(default_factory=Counter)  # "GET"/"HEAD" -> 302s
    other: Counter = field(default_factory=Counter)  # any other status, by status
    errors: Counter = field(default_factory=Counter)  # no answer, by exception

    def record(self, name=None, response=None, exception=None, context=None, **_kw) -> None:
        if name != CLICK:
            return
        status = getattr(response, "status_code", 0) or 0
        if status == 302:
            self.redirected[(context or {}).get("method", "GET")] += 1
        elif status:
            self.other[status] += 1
        else:
            self.errors[type(exception).__name__] += 1

    def as_json(self) -> dict:
        return {
            "redirected": dict(self.redirected),
            "other": {str(k): v for k, v in self.other.items()},
            "errors": dict(self.errors),
        }


def clicker(tokens: list[str]):
    """A client's request: /healthz as it is, or the next click of the cycle through `tokens`."""
    clicks = itertools.count()

    def request(client, path: str) -> None:
        if path == CEILING:
            client.get(CEILING, name=CEILING)
            return
        n = next(clicks)
        method = "HEAD" if n % HEAD_EVERY == 0 else "GET"
        client.request(
            method,
            CLICK + tokens[n % len(tokens)],
            name=CLICK,
            allow_redirects=False,
            headers={
                "User-Agent": AGENTS[n % len(AGENTS)],
                "X-Forwarded-For": NETWORKS[(n // len(tokens)) % len(NETWORKS)],
            },
            context={"method": method},
        )

    return request


def main() -> None:
    plan, (tokens_file,) = Plan.parse(sys.argv[1:])
    tokens = Path(tokens_file).read_text().split()
    clicks = Clicks()
    load = Load(plan, CEILING, clicker(tokens), clicks.record)
    redirect, ceiling = load.measure(CLICK, 302, CEILING)
    # Back to /healthz before stopping: the clicks in flight are answered and recorded (a click
    # the server counted but the client never saw would look like one counted twice).
    load.run(CEILING, 1.0)
    load.quit()
    tallies = {"redirect": redirect.as_json(), "ceiling": ceiling.as_json()}
    print(json.dumps({**tallies, "clicks": clicks.as_json()}), flush=True)


if __name__ == "__main__":
    main()
