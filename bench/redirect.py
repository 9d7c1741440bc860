"""Counted links under load: redirects per second of GET/HEAD /r/<token> on gunicorn (2 gthread
workers of 8 threads, as deploy/mailer-web.service runs it, behind one trusted proxy), as a ratio
of /healthz measured in the same run (the ceiling: one `SELECT 1` through the same app). Then a
graceful stop (SIGTERM), and the clicks in the database must equal the redirects the clients got:
counted in batches, none lost. ARCHITECTURE.md, "Clicks".

The database: SENDS sends of LINKS counted links each (tests/web/click_sends.py), SQLite in a
temporary folder or a private schema on `--database-url postgresql://...` (dropped afterwards).

The load: bench/redirect_load.py (locust, `--users` keep-alive clients), a warm-up, then
`--seconds` counted in `--rounds` slices alternating with as many of /healthz; the ratio is to the
/healthz of the same run. Each click has a browser user agent and a forwarded address from 400
networks, so the counter also keeps visitors; one in ten is a HEAD. Every answer is counted: any
status but a 302 (a 200 for /healthz) and any connection error is printed.

Target (issue 14): redirects >= 60 % of the ceiling, and every redirect counted.

    python bench/redirect.py                    # ~30 s
    python bench/redirect.py --seconds 20 --database-url postgresql://postgres@127.0.0.1:5432/test
    python bench/redirect.py --max-requests 1000   # workers restarting, as in production
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import harness  # noqa: E402
from mailer.store.db import make_engine, session_factory, upgrade  # noqa: E402
from mailer.store.models import ClickVisitor, LinkClicks  # noqa: E402
from tests.web.click_sends import click_send, click_token  # noqa: E402
from tests.web.servers import free_port  # noqa: E402

TARGET = 0.6  # redirects at 60 % of the /healthz rate or better
SENDS, LINKS = 3, 40


def fill(factory) -> list[str]:
    """SENDS sends of LINKS links each; a token for every link."""
    tokens = []
    for n in range(SENDS):
        urls = [f"https://example.org/{n}/article-{p}?utm_source=x#p{p}" for p in range(LINKS)]
        send_id = click_send(factory, urls, day=dt.date(2026, 11, 1) + dt.timedelta(days=n))
        tokens += [click_token(send_id, p) for p in range(1, LINKS + 1)]
    return tokens


def graceful_stop(proc, folder: Path) -> float:
    """SIGTERM, as systemd stops the unit; the seconds until gunicorn exited (0 exit status)."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(45)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit("gunicorn did not stop within 45 s of SIGTERM") from None
    if proc.returncode != 0:
        raise SystemExit(f"gunicorn exited with {proc.returncode}: {harness.read_log(folder)}")
    return time.monotonic() - started


def stored(factory) -> tuple[dict[str, int], int]:
    """({kind: clicks} in link_clicks, visitor rows)."""
    with factory() as session:
        kinds = dict(
            session.execute(
                select(LinkClicks.kind, func.sum(LinkClicks.clicks)).group_by(LinkClicks.kind)
            ).all()
        )
        visitors = session.scalar(select(func.count()).select_from(ClickVisitor))
    return {k: int(v) for k, v in kinds.items()}, visitors


def options() -> argparse.Namespace:
    return harness.parser(__doc__, seconds=16.0).parse_args()


def main() -> None:
    args = options()
    harness.require_locust()
    with (
        tempfile.TemporaryDirectory() as tmp,
        harness.database(args.database_url, Path(tmp)) as db_url,
    ):
        folder = Path(tmp)
        engine = make_engine(db_url)
        upgrade(engine)
        factory = session_factory(engine)
        tokens = fill(factory)
        tokens_file = folder / "tokens.txt"
        tokens_file.write_text("\n".join(tokens))
        print(
            f"counted links on {harness.served(args)}, {SENDS} sends x {LINKS} links; {args.users} "
            f"keep-alive clients (locust), {args.warmup:g} s warm-up, {args.seconds:g} s a URL in "
            f"{args.rounds} alternating slices; {harness.machine()}"
        )
        # as in production: X-Forwarded-For names the reader
        proc, url = harness.start_gunicorn(
            db_url, free_port(), folder, args.max_requests, MAILER_TRUSTED_PROXIES="1"
        )
        try:
            first = requests.get(f"{url}/r/{tokens[0]}", allow_redirects=False, timeout=30)
            if first.status_code != 302:
                raise SystemExit(f"/r/<token> answered {first.status_code}, not 302")
            [run] = harness.drive("redirect_load.py", url, args, str(tokens_file))
        except BaseException:
            proc.kill()
            raise
        stop_seconds = graceful_stop(proc, folder)
        kinds, visitors = stored(factory)
        engine.dispose()
        log = harness.read_log(folder)
    report(run, kinds, visitors, stop_seconds, log, checked=1)  # the check's GET counts too


def report(run: dict, kinds: dict, visitors: int, stop_seconds: float, log: str, checked: int):
    redirect, ceiling, clicks = run["redirect"], run["ceiling"], run["clicks"]
    ratio = redirect["rate"] / ceiling["rate"]
    print(
        f"  /healthz     {ceiling['rate']:7,.0f} req/s  the ceiling ({ceiling['ok']:,} x 200 in "
        f"{ceiling['seconds']:.1f} s, {harness.problems(ceiling, '200')}; "
        f"p50 {ceiling['p50_ms']:.0f} ms, p95 {ceiling['p95_ms']:.0f} ms)"
    )
    print(
        f"  /r/<token>   {redirect['rate']:7,.0f} req/s {ratio:6.1%} of the ceiling "
        f"({redirect['ok']:,} x 302 in {redirect['seconds']:.1f} s, "
        f"{harness.problems(redirect, '302')}; p50 {redirect['p50_ms']:.0f} ms, "
        f"p95 {redirect['p95_ms']:.0f} ms)"
    )
    made = sum(clicks["redirected"].values()) + checked
    heads = clicks["redirected"].get("HEAD", 0)
    total = sum(kinds.values())
    lost = made - total
    unsure = sum(clicks["errors"].values())  # no answer: counted or not, the client cannot say
    print(
        f"  clicks: {made:,} redirects answered ({heads:,} HEAD), other answers "
        f"{clicks['other'] or 'none'}, errors {clicks['errors'] or 'none'}; in the database after "
        f"SIGTERM ({stop_seconds:.1f} s to stop): {total:,} ({kinds.get('reader', 0):,} reader, "
        f"{kinds.get('scanner', 0):,} scanner), {visitors:,} visitor hashes"
    )
    verdict = "met" if ratio >= TARGET else "NOT met"
    if lost == 0:
        counted = "every redirect counted, none lost"
    elif unsure and abs(lost) <= unsure:
        counted = f"{lost:+,} against the answers, within the {unsure} requests left unanswered"
    else:
        counted = f"NOT all counted: {lost:+,} clicks between the answers and the database"
    errors = [line for line in log.splitlines() if "click" in line.lower()]
    print(
        f"  target: redirects >= {TARGET:.0%} of the ceiling: {verdict} ({ratio:.1%}); "
        f"{counted}; load average at the end {os.getloadavg()[0]:.2f}"
    )
    if errors:
        print("  the server logged:\n    " + "\n    ".join(errors[-5:]))


if __name__ == "__main__":
    main()
