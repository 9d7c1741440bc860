"""Send pipeline benchmark (claim, personalise, call, commit) against a local SES endpoint
(bench/ses_endpoint.py: one asyncio loop, so that the stand-in for SES takes little of the CPUs the
sender is measured on).

Prints, for 0 ms and 50 ms endpoint latency at a 1,000 msg/s rate limit: messages per second, the
fraction of the rate achieved, and the ratio against a naive single-threaded boto3 loop measured in
the same run, and the CPU microseconds per message of the sender (this process and its sender
processes,
`os.times` around the send). Then the peak RSS of whole sends of growing list sizes (flat = list not
held in memory).

The send is planned (issue rendered and stored, ledger rows written) before the clock starts: the
pipeline rate is that of claim, personalise, call, commit, including run_send's start (account
limits,
sender processes) and end; planning time is printed separately.

A send of 20,000 messages (20 s at the rate) by default: the start (account limits, forking the
sender
processes: ~0.3 s, printed as "first message accepted after") is then a small part of the rate, as
it
is of a real issue's send.

Environment: BENCH_MESSAGES (pipeline messages per latency, default 20000), BENCH_RSS_SIZES
(comma-separated list sizes, default "1000,4000"; 200000 works but takes long on small machines),
BENCH_PROCESSES (sender processes, `mailer send --processes`; default: the number of CPUs),
BENCH_CLICKS=1 (the list with [analytics] clicks: every content link a counted redirect).
Peak RSS is that of the send alone (a fresh process; the database is filled and the send planned
beforehand in this one): the largest of its process and its sender processes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.send.conftest import AWS_ENV, ISSUE, add_subscribers  # noqa: E402
from tests.send.conftest import LIST as SHIPPED_LIST  # noqa: E402

os.environ.update(AWS_ENV)

from mailer.content.lists import AnalyticsSettings  # noqa: E402

CLICKS = os.environ.get("BENCH_CLICKS") == "1"
LIST = dataclasses.replace(SHIPPED_LIST, analytics=AnalyticsSettings(clicks=CLICKS))

from mailer.config import Settings  # noqa: E402
from mailer.content.load import load_issue_for  # noqa: E402
from mailer.render.issue import render_issue  # noqa: E402
from mailer.send.campaign import (  # noqa: E402
    LinkMaker,
    PreparedIssue,
    SendOptions,
    personal_message,
    plan_issue,
    run_send,
)
from mailer.store.db import make_engine, session_factory, upgrade  # noqa: E402
from mailer.store.models import Delivery  # noqa: E402
from mailer.transports.ses import SesTransport  # noqa: E402

RATE = 1000.0
PROCESSES = int(os.environ.get("BENCH_PROCESSES", str(os.cpu_count() or 1)))


def endpoint(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "ses_endpoint.py"), str(latency)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, proc.stdout.readline().strip()


def settings_for(db: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{db}",
        secret_key="bench-secret-key-0123456789",
        base_url="https://news.example",
        issues_path=(REPO / "issues",),
        lists_dir=REPO / "lists",
    )


def first_sent_at(factory) -> float:
    """Epoch seconds of the first accepted message (SQLite hands back naive UTC datetimes)."""
    with factory() as session:
        first = session.scalar(select(func.min(Delivery.sent_at)))
    return (first if first.tzinfo else first.replace(tzinfo=dt.UTC)).timestamp()


def prepare(db: Path, messages: int) -> float:
    """A database with `messages` confirmed subscribers and the send planned; seconds spent
    planning."""
    settings = settings_for(db)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    factory = session_factory(engine)
    add_subscribers(factory, messages)
    content = load_issue_for(settings, LIST, ISSUE)
    started = time.perf_counter()
    plan_issue(factory, settings, LIST, content)
    engine.dispose()
    return time.perf_counter() - started


def cpu_seconds() -> tuple[float, float]:
    """(user, system) CPU seconds of this process and of its children that have been waited for (the
    sender processes run_send forks and joins; the endpoint stand-in is still running, so not
    counted)."""
    t = os.times()
    return t.user + t.children_user, t.system + t.children_system


def send_prepared(
    db: Path, url: str, messages: int, processes: int
) -> tuple[float, float, tuple[float, float]]:
    """Run the planned send: (messages per second, seconds from the start of run_send to the first
    accepted message: the fixed cost of starting a send, inside the rate, (user, system) CPU
    microseconds per message of the sender: this process and its sender processes)."""
    settings = settings_for(db)
    engine = make_engine(settings.database_url)
    factory = session_factory(engine)
    content = load_issue_for(settings, LIST, ISSUE)
    transport = SesTransport(endpoint_url=url, pool_size=128)
    cpu_before = cpu_seconds()
    started, wall_start = time.perf_counter(), time.time()
    summary = run_send(
        factory, settings, LIST, content, transport, SendOptions(rate=RATE, processes=processes)
    )
    elapsed = time.perf_counter() - started
    cpu = tuple(
        (after - before) / messages * 1e6
        for after, before in zip(cpu_seconds(), cpu_before, strict=True)
    )
    first_after = first_sent_at(factory) - wall_start
    transport.close()
    engine.dispose()
    if summary.counts != {"sent": messages}:
        # e.g. an 'unknown' row when the endpoint dropped a connection under load: the ledger says
        # so
        # honestly and nothing is retried blindly; the benchmark reports it rather than failing.
        print(
            f"  note: ledger ended with {summary.counts} (every message was handed over once)",
            file=sys.stderr,
        )
    if summary.counts.get("queued") or summary.counts.get("sending"):
        raise SystemExit(f"bench send did not finish: {summary.counts}")
    return messages / elapsed, first_after, cpu


def pipeline(
    url: str, messages: int, processes: int = PROCESSES
) -> tuple[float, float, float, tuple[float, float]]:
    """(messages per second of the send, seconds spent planning it beforehand, seconds to the first
    accepted message, sender CPU µs per message (user, system))"""
    with tempfile.TemporaryDirectory() as tmp:
        planned = prepare(Path(tmp) / "bench.db", messages)
        rate, first_after, cpu = send_prepared(Path(tmp) / "bench.db", url, messages, processes)
    return rate, planned, first_after, cpu


def naive(url: str, messages: int) -> float:
    """What a straightforward script does: render, then one boto3 call after the other."""
    import boto3

    settings = settings_for(Path("/nonexistent.db"))
    content = load_issue_for(settings, LIST, ISSUE)
    prepared = PreparedIssue(0, 0, content, render_issue(content, LIST, settings.base_url))
    links, client = LinkMaker(settings, LIST), boto3.client("sesv2", endpoint_url=url)
    started = time.perf_counter()
    for i in range(messages):
        raw = personal_message(
            prepared, LIST, 1, links.recipient(i, i, f"reader{i}@example.com", "Reader")
        )
        client.send_email(
            Destination={"ToAddresses": [f"reader{i}@example.com"]}, Content={"Raw": {"Data": raw}}
        )
    return messages / (time.perf_counter() - started)


def rss_child(size: int, db: str, url: str) -> None:
    """Only the send, in a fresh process: its peak RSS is not the import's that filled the
    database."""
    pipeline_rate, _, _ = send_prepared(Path(db), url, size, PROCESSES)
    who = (
        resource.RUSAGE_SELF,
        resource.RUSAGE_CHILDREN,
    )  # the parent and its largest sender process
    peak_mb = max(resource.getrusage(w).ru_maxrss for w in who) / 1024
    print(f"{peak_mb:.1f} {pipeline_rate:.1f}")


def peak_rss(size: int, url: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        prepare(db, size)
        out = subprocess.run(
            [sys.executable, __file__, "--rss", str(size), str(db), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    messages = int(os.environ.get("BENCH_MESSAGES", "20000"))
    print(
        f"send pipeline, rate limit {RATE:.0f} msg/s, {messages} messages, {os.cpu_count()} CPUs, "
        f"{PROCESSES} sender processes, click tracking {'on' if CLICKS else 'off'}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for latency in (0.0, 0.05):
        proc, url = endpoint(latency)
        try:
            naive_rate = naive(url, 60 if latency else 150)
            rate, planned, first_after, (user_us, system_us) = pipeline(url, messages)
        finally:
            proc.kill()
        print(
            f"  latency {latency * 1000:>3.0f} ms: pipeline {rate:7.1f} msg/s = {rate / RATE:6.1%} "
            "of the rate; "
            f"naive loop {naive_rate:6.1f} msg/s; ratio {rate / naive_rate:5.1f}x (planning "
            f"{planned:.2f} s "
            f"before; first message accepted {first_after:.2f} s after the start); sender CPU "
            f"{user_us + system_us:.0f} us/message ({user_us:.0f} user, {system_us:.0f} system)"
        )
    print(f"  load average at the end of the rate runs {os.getloadavg()[0]:.2f}")
    proc, url = endpoint(0.0)
    try:
        for size in [int(s) for s in os.environ.get("BENCH_RSS_SIZES", "1000,4000").split(",")]:
            peak, rate = peak_rss(size, url)
            print(
                f"  peak RSS for a {size:>7,}-recipient send: {peak:6.1f} MB ({rate:.0f} msg/s, "
                f"{size / rate:.0f} s at 0 ms)"
            )
    finally:
        proc.kill()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--rss":
        rss_child(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        main()
