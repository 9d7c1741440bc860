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
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, select, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mailer.config import normalise_database_url  # noqa: E402
from mailer.store.db import make_engine, session_factory, upgrade  # noqa: E402
from mailer.store.models import ClickVisitor, LinkClicks  # noqa: E402
from tests.web.click_sends import click_send, click_token  # noqa: E402

TARGET = 0.6  # redirects at 60 % of the /healthz rate or better
SENDS, LINKS = 3, 40
SECRET = "test-secret-key-0123456789abcdef"  # the key click_token signs with


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


def fill(factory) -> list[str]:
    """SENDS sends of LINKS links each; a token for every link."""
    tokens = []
    for n in range(SENDS):
        urls = [f"https://example.org/{n}/article-{p}?utm_source=x#p{p}" for p in range(LINKS)]
        send_id = click_send(factory, urls, day=dt.date(2026, 11, 1) + dt.timedelta(days=n))
        tokens += [click_token(send_id, p) for p in range(1, LINKS + 1)]
    return tokens


def gunicorn_args(port: int, max_requests: int) -> list[str]:
    # The flags of deploy/mailer-web.service, but for --max-requests (off unless asked: worker
    # start-ups would go into the rates) and the access log (the journal's cost, not the app's).
    args = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    args += ["--threads", "8", "--worker-class", "gthread", "--timeout", "60"]
    args += ["--graceful-timeout", "30", "--log-level", "warning"]
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
        MAILER_TRUSTED_PROXIES="1",  # as in production: X-Forwarded-For names the reader
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
        raise SystemExit(f"gunicorn exited with {proc.returncode}: {read_log(folder)}")
    return time.monotonic() - started


def read_log(folder: Path) -> str:
    return (folder / "gunicorn.log").read_text(errors="replace")[-2000:]


def drive(url: str, tokens_file: Path, args) -> dict:
    command = [sys.executable, str(REPO / "bench" / "redirect_load.py"), url]
    command += [str(args.seconds), str(args.rounds), str(args.warmup), str(args.users)]
    out = subprocess.run([*command, str(tokens_file)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench/redirect_load.py failed: {out.stderr.strip()[-2000:]}")
    return json.loads(next(line for line in out.stdout.splitlines() if line.startswith("{")))


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


def problems(run: dict, ok: str) -> str:
    """Every answer that was not `ok`, and every connection error, in one phrase."""
    parts = [f"{v} x HTTP {k}" for k, v in run["statuses"].items() if k != ok]
    parts += [f"{v} x {k}" for k, v in run["errors"].items()]
    return ", ".join(parts) if parts else "no errors"


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=16.0, help="measured seconds a URL")
    parser.add_argument("--rounds", type=int, default=4, help="slices of them, alternating")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds")
    parser.add_argument("--users", type=int, default=16, help="keep-alive clients (16 = 2 x 8)")
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite in a tmp dir)")
    parser.add_argument("--max-requests", type=int, default=0, help="gunicorn --max-requests")
    return parser.parse_args()


def main() -> None:
    args = options()
    if importlib.util.find_spec("locust") is None:
        raise SystemExit("locust is not installed: run `make install` (the bench extra)")
    with tempfile.TemporaryDirectory() as tmp, database(args.database_url, Path(tmp)) as db_url:
        folder = Path(tmp)
        engine = make_engine(db_url)
        upgrade(engine)
        factory = session_factory(engine)
        tokens = fill(factory)
        tokens_file = folder / "tokens.txt"
        tokens_file.write_text("\n".join(tokens))
        kind = "PostgreSQL" if args.database_url else "SQLite"
        print(
            f"counted links on gunicorn (2 gthread workers x 8 threads, --max-requests "
            f"{args.max_requests or 'off'}), {kind}, {SENDS} sends x {LINKS} links; "
            f"{args.users} keep-alive clients (locust), {args.warmup:g} s warm-up, "
            f"{args.seconds:g} s a URL in {args.rounds} alternating slices; {os.cpu_count()} "
            f"CPUs, load average {os.getloadavg()[0]:.2f}"
        )
        proc, url = start_gunicorn(db_url, free_port(), folder, args.max_requests)
        try:
            first = requests.get(f"{url}/r/{tokens[0]}", allow_redirects=False, timeout=30)
            if first.status_code != 302:
                raise SystemExit(f"/r/<token> answered {first.status_code}, not 302")
            run = drive(url, tokens_file, args)
        except BaseException:
            proc.kill()
            raise
        stop_seconds = graceful_stop(proc, folder)
        kinds, visitors = stored(factory)
        engine.dispose()
        log = read_log(folder)
    report(run, kinds, visitors, stop_seconds, log, checked=1)  # the check's GET counts too


def report(run: dict, kinds: dict, visitors: int, stop_seconds: float, log: str, checked: int):
    redirect, ceiling, clicks = run["redirect"], run["ceiling"], run["clicks"]
    ratio = redirect["rate"] / ceiling["rate"]
    print(
        f"  /healthz     {ceiling['rate']:7,.0f} req/s  the ceiling ({ceiling['ok']:,} x 200 in "
        f"{ceiling['seconds']:.1f} s, {problems(ceiling, '200')}; p50 {ceiling['p50_ms']:.0f} ms, "
        f"p95 {ceiling['p95_ms']:.0f} ms)"
    )
    print(
        f"  /r/<token>   {redirect['rate']:7,.0f} req/s {ratio:6.1%} of the ceiling "
        f"({redirect['ok']:,} x 302 in {redirect['seconds']:.1f} s, {problems(redirect, '302')}; "
        f"p50 {redirect['p50_ms']:.0f} ms, p95 {redirect['p95_ms']:.0f} ms)"
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
