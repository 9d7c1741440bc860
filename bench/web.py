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
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mailer.config import Settings, normalise_database_url  # noqa: E402
from mailer.store.db import make_engine, session_factory, upgrade  # noqa: E402
from tests.archive.conftest import (  # noqa: E402
    LIST,
    bulk_issues,
    seed_contents,
    send_started,
)

SECRET = "bench-secret-key-0123456789abcdef"
TARGET = 0.5  # issue pages at half the /healthz rate or better
BULK_FIRST = dt.date(2026, 1, 1)  # the bulk issues end months before the seeds (2026-11-18..22)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database(url: str | None, folder: Path):
    """A fresh, empty database URL: a SQLite file in `folder`, or a schema of its own on the
    PostgreSQL at `url`, dropped at the end."""
    if url is None:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


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


def gunicorn_args(port: int, max_requests: int) -> list[str]:
    # The flags of deploy/mailer-web.service, but for --max-requests (off unless asked: a worker
    # restart every 1,000 requests would put worker start-up and an empty page cache into the
    # rates) and the access log (the journal's cost, not the app's).
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--threads",
        "8",
        "--worker-class",
        "gthread",
        "--timeout",
        "60",
        "--log-level",
        "warning",
    ]
    if max_requests:
        args += ["--max-requests", str(max_requests)]
    return [*args, "mailer.web:create_app()"]


def start_gunicorn(database_url: str, port: int, folder: Path, max_requests: int):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"
    }
    env.update(
        DATABASE_URL=database_url,
        MAILER_SECRET_KEY=SECRET,
        MAILER_LISTS_DIR=str(REPO / "lists"),
        MAILER_BASE_URL=f"http://127.0.0.1:{port}",
        MAILER_OUTBOX=str(folder / "outbox"),
    )
    log = (folder / "gunicorn.log").open("wb")
    proc = subprocess.Popen(
        gunicorn_args(port, max_requests), cwd=folder, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited: {(folder / 'gunicorn.log').read_text()[-2000:]}")
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def check(url: str, paths: dict[str, str]) -> None:
    """Each URL answers 200 before it is measured: a rate of 404s would measure nothing."""
    for label, path in paths.items():
        response = requests.get(url + path, timeout=30)
        if response.status_code != 200:
            raise SystemExit(f"{label} ({path}) answered {response.status_code}, not 200")


def drive(url: str, paths: list[str], args) -> list[dict]:
    """[{"path": ..., "ceiling": ...}] a path, from bench/web_load.py."""
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "web_load.py"),
            url,
            str(args.seconds),
            str(args.rounds),
            str(args.warmup),
            str(args.users),
            "/healthz",
            *paths,
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench/web_load.py failed: {out.stderr.strip()[-2000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def problems(run: dict) -> str:
    """Every answer that was not a 200, and every connection error, in one phrase."""
    other = {k: v for k, v in run["statuses"].items() if k != "200"}
    parts = [f"{v} x HTTP {k}" for k, v in other.items()]
    parts += [f"{v} x {k}" for k, v in run["errors"].items()]
    return ", ".join(parts) if parts else "no errors"


def line(label: str, run: dict, ceiling: dict) -> str:
    return (
        f"  {label:<14} {run['rate']:7,.0f} req/s {run['rate'] / ceiling['rate']:6.1%} of "
        f"{ceiling['rate']:5,.0f} ({run['ok']:,} x 200 in {run['seconds']:.1f} s, {problems(run)}; "
        f"p50 {run['p50_ms']:.0f} ms, p95 {run['p95_ms']:.0f} ms, {run['bytes'] / 1024:.1f} KB)"
    )


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds a URL")
    parser.add_argument("--rounds", type=int, default=4, help="slices of them, with /healthz")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds a URL")
    parser.add_argument("--users", type=int, default=16, help="keep-alive clients (16 = 2 x 8)")
    parser.add_argument("--bulk", type=int, default=200, help="small issues besides the seeds")
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite in a tmp dir)")
    parser.add_argument("--max-requests", type=int, default=0, help="gunicorn --max-requests")
    return parser.parse_args()


def main() -> None:
    args = options()
    if importlib.util.find_spec("locust") is None:
        raise SystemExit("locust is not installed: run `make install` (the bench extra)")
    slug = LIST.slug
    with tempfile.TemporaryDirectory() as tmp, database(args.database_url, Path(tmp)) as db_url:
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
        kind = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"archive on gunicorn (2 gthread workers x 8 threads, --max-requests "
            f"{args.max_requests or 'off'}), {kind}, {len(dates)} seed issues sent + {args.bulk} "
            f"bulk; {args.users} keep-alive clients (locust); a URL: {args.warmup:g} s warm-up, "
            f"{args.seconds:g} s counted in {args.rounds} slices between as many of /healthz; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
        )
        proc, url = start_gunicorn(db_url, port, Path(tmp), args.max_requests)
        try:
            check(url, {"/healthz": "/healthz", **paths})
            runs = drive(url, list(paths.values()), args)
        finally:
            stop(proc)
    ceilings = [r["ceiling"] for r in runs]
    overall = sum(c["ok"] for c in ceilings) / sum(c["seconds"] for c in ceilings)
    beside = ", ".join(f"{c['rate']:,.0f}" for c in ceilings)
    print(
        f"  {'/healthz':<14} {overall:7,.0f} req/s  the ceiling (its slices beside each URL: "
        f"{beside} req/s; {'; '.join(sorted({problems(c) for c in ceilings}))})"
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
