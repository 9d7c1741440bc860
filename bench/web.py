"""The archive on the web under load: requests per second of gunicorn (2 gthread workers of 8
threads, as deploy/mailer-web.service runs it) for the archive's pages, feeds and cards, each as a
ratio of /healthz measured in the same run (the ceiling: one `SELECT 1` through the same app, so
the ratio is what the archive costs over the app's fixed cost). ARCHITECTURE.md, "The archive".

The database: the five seed issues with their sends started (tests/archive/conftest.py
send_started: rendered, stored with their share cards, in the archive) and BULK (default 200)
small issues before them, so the index and the neighbour queries see a big archive. SQLite in a
temporary folder, or a private schema on `--database-url postgresql://...` (dropped afterwards).

The load: bench/web_load.py (locust, keep-alive connections, `--users` of them), one URL at a
time: a warm-up, then `--seconds` counted in `--rounds` slices that alternate with as many of
/healthz, and the URL's ratio is to the /healthz of its own slices (other sessions on a shared
machine move both rates within a minute; alternating keeps that out of the ratio). Every answer's
status is counted: only 200s make the rate; any other status, and any connection error, is
printed.

Target (issue 13): issue pages at >= 50 % of the ceiling.

    python bench/web.py                      # ~2 minutes: 5 URLs x (2 s warm-up + 2 x 8 s)
    python bench/web.py --seconds 5 --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import harness  # noqa: E402
from mailer.config import Settings  # noqa: E402
from mailer.store.db import make_engine, session_factory, upgrade  # noqa: E402
from tests.archive.conftest import (  # noqa: E402
    LIST,
    bulk_issues,
    seed_contents,
    send_started,
)
from tests.conftest import SECRET  # noqa: E402
from tests.web.servers import free_port, stop  # noqa: E402

TARGET = 0.5  # issue pages at half the /healthz rate or better
BULK_FIRST = dt.date(2026, 1, 1)  # the bulk issues end months before the seeds (2026-11-18..22)


def fill(database_url: str, base_url: str, bulk: int) -> list[dt.date]:
    """The archive: BULK small issues, then the seeds sent; the seed dates."""
    settings = Settings(
        database_url=database_url,
        secret_key=SECRET,
        base_url=base_url,
        issues_path=(REPO / "issues",),
        lists_dir=REPO / "lists",
    )
    engine = make_engine(database_url)
    upgrade(engine)
    factory = session_factory(engine)
    bulk_issues(factory, bulk, BULK_FIRST)
    contents = seed_contents()
    for content in contents:
        send_started(factory, settings, content)
    engine.dispose()
    return [c.date for c in contents]


def check(url: str, paths: dict[str, str]) -> None:
    """Each URL answers 200 before it is measured: a rate of 404s would measure nothing."""
    for label, path in paths.items():
        response = requests.get(url + path, timeout=30)
        if response.status_code != 200:
            raise SystemExit(f"{label} ({path}) answered {response.status_code}, not 200")


def line(label: str, run: dict, ceiling: dict) -> str:
    return (
        f"  {label:<14} {run['rate']:7,.0f} req/s {run['rate'] / ceiling['rate']:6.1%} of "
        f"{ceiling['rate']:5,.0f} ({run['ok']:,} x 200 in {run['seconds']:.1f} s, "
        f"{harness.problems(run)}; p50 {run['p50_ms']:.0f} ms, p95 {run['p95_ms']:.0f} ms, "
        f"{run['bytes'] / 1024:.1f} KB)"
    )


def options() -> argparse.Namespace:
    options = harness.parser(__doc__, seconds=8.0)
    options.add_argument("--bulk", type=int, default=200, help="small issues besides the seeds")
    return options.parse_args()


def main() -> None:
    args = options()
    harness.require_locust()
    slug = LIST.slug
    with (
        tempfile.TemporaryDirectory() as tmp,
        harness.database(args.database_url, Path(tmp)) as db_url,
    ):
        port = free_port()
        dates = fill(db_url, f"http://127.0.0.1:{port}", args.bulk)
        issue_day = dates[len(dates) // 2].isoformat()  # one with neighbours on both sides
        paths = {
            "archive index": f"/archive/{slug}/",
            "issue page": f"/archive/{slug}/{issue_day}",
            "feed.atom": f"/archive/{slug}/feed.atom",
            "feed.json": f"/archive/{slug}/feed.json",
            "card.png": f"/archive/{slug}/{issue_day}/card.png",
        }
        print(
            f"archive on {harness.served(args)}, {len(dates)} seed issues sent + {args.bulk} bulk; "
            f"{args.users} keep-alive clients (locust); a URL: {args.warmup:g} s warm-up, "
            f"{args.seconds:g} s counted in {args.rounds} slices between as many of /healthz; "
            f"{harness.machine()}"
        )
        proc, url = harness.start_gunicorn(db_url, port, Path(tmp), args.max_requests)
        try:
            check(url, {"/healthz": "/healthz", **paths})
            runs = harness.drive("web_load.py", url, args, "/healthz", *paths.values())
        finally:
            stop(proc)
    ceilings = [r["ceiling"] for r in runs]
    overall = sum(c["ok"] for c in ceilings) / sum(c["seconds"] for c in ceilings)
    beside = ", ".join(f"{c['rate']:,.0f}" for c in ceilings)
    print(
        f"  {'/healthz':<14} {overall:7,.0f} req/s  the ceiling (its slices beside each URL: "
        f"{beside} req/s; {'; '.join(sorted({harness.problems(c) for c in ceilings}))})"
    )
    for label, run in zip(paths, runs, strict=True):
        print(line(label, run["path"], run["ceiling"]))
    issue = runs[1]
    issue_ratio = issue["path"]["rate"] / issue["ceiling"]["rate"]
    verdict = "met" if issue_ratio >= TARGET else "NOT met"
    print(
        f"  target: issue pages >= {TARGET:.0%} of the ceiling: {verdict} ({issue_ratio:.1%}); "
        f"load average at the end {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
