"""Event intake benchmark: one poller process (`poll_events`, what `mailer events poll --once`
runs) draining an SQS queue of SES notifications into SQLite (ARCHITECTURE.md "Stages": track).

The queue is the benchmark's SQS stand-in (its own process, one asyncio loop,
20 ms per round trip), loaded with BENCH_EVENTS (default 100,000) raw-delivery SES notifications in
the event-publishing format, each carrying one event: a Send for every message, then a Delivery
(about 93 %), a Bounce (4 % hard, 1 % soft) or a Reject (2 %), and a Complaint after 2 % of the
deliveries. They match the ledger of a planned send (one delivery row per message, marked sent
with its SES message id), so every event is correlated, moves a row, and the bounces and complaints
suppress and unsubscribe.

Prints events per second of the batched poller (BENCH_RECEIVERS receivers, default RECEIVERS of
mailer.track.intake, 10 messages a receive, the batches that wait for the writer recorded in one
transaction, one DeleteMessageBatch per batch, both SQS calls on the lean path of
mailer.track.sqs_lean); the same for the one-message-per-transaction path (one receiver, one
transaction and one DeleteMessage per message: the poller before batching,
`batch_transactions=False`), measured in the same run on a smaller sample of BENCH_EVENTS_OLD
(default 1,000) notifications because it runs at about 35 events/s; the ratio, the poller's CPU time
per event and the load average. Every event must end up stored once and the queue empty.

Takes about 2 minutes on 2 CPUs at the default sizes (1:54 measured: planning the send of ~49,500
deliveries and loading the queue ~10 s, the batched drain ~76 s, the old path ~30 s).

    python bench/events.py        # BENCH_EVENTS=20000 for a quicker run
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.send.conftest import AWS_ENV, ISSUE, LIST, add_subscribers  # noqa: E402

os.environ.update(AWS_ENV)

from mailer.config import Settings  # noqa: E402
from mailer.content.load import load_issue_for  # noqa: E402
from mailer.send.campaign import plan_issue  # noqa: E402
from mailer.store.db import make_engine, session_factory, upgrade  # noqa: E402
from mailer.store.models import Delivery, Event  # noqa: E402
from mailer.track.intake import RECEIVERS  # noqa: E402

LATENCY = 0.020
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"
PAYLOADS = REPO / "tests" / "payloads"


def settings_for(db: Path, queue_url: str | None = None) -> Settings:
    return Settings(
        database_url=f"sqlite:///{db}",
        secret_key="bench-secret-key-0123456789",
        base_url="https://news.example",
        issues_path=(REPO / "issues",),
        lists_dir=REPO / "lists",
        sqs_queue_url=queue_url,
        sns_topic_arns=(TOPIC,),
    )


def plan(db: Path, deliveries: int) -> list[tuple[int, int, str]]:
    """A planned send of `deliveries` rows, all sent: [(delivery id, send id, email)]."""
    settings = settings_for(db)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    factory = session_factory(engine)
    add_subscribers(factory, deliveries)
    plan_issue(factory, settings, LIST, load_issue_for(settings, LIST, ISSUE))
    with factory.begin() as session:
        session.execute(
            text("UPDATE deliveries SET state = 'sent', provider_message_id = 'bench-' || id")
        )
        rows = session.execute(select(Delivery.id, Delivery.send_id, Delivery.email)).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def _template(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


TEMPLATES = {
    kind: _template(f"event_{name}.json")
    for kind, name in (
        ("Send", "send"),
        ("Delivery", "delivery"),
        ("Bounce", "bounce_permanent"),
        ("Complaint", "complaint"),
        ("Reject", "reject"),
    )
}


def notification(kind: str, row: tuple[int, int, str], soft: bool = False) -> str:
    delivery_id, send_id, email = row
    payload = json.loads(json.dumps(TEMPLATES[kind]))
    mail = payload["mail"]
    mail.update(messageId=f"bench-{delivery_id}", destination=[email])
    mail["tags"] = {"delivery_id": [str(delivery_id)], "send_id": [str(send_id)]}
    mail.pop("commonHeaders", None)
    mail.pop("headers", None)
    if kind == "Delivery":
        payload["delivery"]["recipients"] = [email]
    elif kind == "Bounce":
        bounce = payload["bounce"]
        bounce["bouncedRecipients"][0]["emailAddress"] = email
        bounce["feedbackId"] = f"bench-bounce-{delivery_id}"
        if soft:
            bounce.update(bounceType="Transient", bounceSubType="MailboxFull")
    elif kind == "Complaint":
        complaint = payload["complaint"]
        complaint["complainedRecipients"] = [{"emailAddress": email}]
        complaint["feedbackId"] = f"bench-complaint-{delivery_id}"
    return json.dumps(payload)


def notifications(rows: list[tuple[int, int, str]], seed: int = 7) -> list[str]:
    """About 2.02 notifications a row, in the order SES reports them: the Sends of 500
    messages, then the outcomes of the 500 before (shuffled), complaints a window later still."""
    rng = random.Random(seed)
    sends, outcomes, complaints = [], [], []
    for row in rows:
        sends.append(notification("Send", row))
        roll = rng.random()
        if roll < 0.04:
            outcomes.append([notification("Bounce", row)])
        elif roll < 0.05:
            outcomes.append([notification("Bounce", row, soft=True)])
        elif roll < 0.07:
            outcomes.append([notification("Reject", row)])
        else:
            outcomes.append([notification("Delivery", row)])
        complaints.append(
            [notification("Complaint", row)] if roll >= 0.07 and rng.random() < 0.02 else []
        )
    stream: list[str] = []
    later: list[str] = []
    for start in range(0, len(rows) + 1000, 500):
        window = slice(start, start + 500)
        stream.extend(sends[window])
        earlier = slice(max(0, start - 500), start)
        done = [n for outcome in outcomes[earlier] for n in outcome]
        rng.shuffle(done)
        stream.extend(done + later)
        later = [n for complaint in complaints[earlier] for n in complaint]
    return stream


def deliveries_for(count: int) -> int:
    """Rows for about `count` notifications (2 + 2 % of 93 % a row)."""
    return max(1, round(count / 2.0186))


def start_queue(bodies: list[str], path: Path) -> tuple[subprocess.Popen, str]:
    with path.open("w", encoding="utf-8") as out:
        for body in bodies:
            out.write(json.dumps(body) + "\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "tests" / "track" / "sqs_endpoint.py"),
            str(LATENCY),
            str(path),
            "60",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, proc.stdout.readline().strip()


def poll_child(db: str, queue_url: str, receivers: int, batch: bool) -> None:
    """In the poller process: drain the queue, print seconds, CPU seconds and the result."""
    from mailer.track.queue import poll_events

    os.environ["AWS_ENDPOINT_URL_SQS"] = queue_url.rsplit("/", 2)[0]
    settings = settings_for(Path(db), queue_url)
    factory = session_factory(make_engine(settings.database_url))
    cpu_before, started = os.times(), time.perf_counter()
    outcome = poll_events(
        settings,
        factory,
        once=True,
        wait_seconds=0,
        receivers=receivers,
        batch_transactions=batch,
    )
    elapsed, cpu_after = time.perf_counter() - started, os.times()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    result = outcome.result
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "cpu": cpu,
                "recorded": result.recorded,
                "duplicates": result.duplicates,
                "deleted": result.messages_deleted,
                "left": result.messages_left,
                "updated": result.deliveries_updated,
                "suppressed": len(result.suppressed),
                "unsubscribed": len(result.unsubscribed),
            }
        )
    )


def drain(count: int, receivers: int, batch: bool) -> dict:
    """Plan a send, load the queue with `count` notifications, run one poller process on it."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        bodies = notifications(plan(db, deliveries_for(count)))
        proc, queue_url = start_queue(bodies, Path(tmp) / "bodies.jsonl")
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--poll", str(db), queue_url, str(receivers)]
                + ([] if batch else ["--one-by-one"]),
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            proc.kill()
            proc.wait()
        run = json.loads(out.strip().splitlines()[-1])
        engine = make_engine(f"sqlite:///{db}")
        with engine.connect() as conn:
            run["stored"] = conn.scalar(select(func.count()).select_from(Event))
        engine.dispose()
    if run["stored"] != len(bodies) or run["deleted"] != len(bodies) or run["left"]:
        raise SystemExit(f"the poller did not store every event once: {run}")
    run["events"] = len(bodies)
    return run


def main() -> None:
    count = int(os.environ.get("BENCH_EVENTS", "100000"))
    old_count = int(os.environ.get("BENCH_EVENTS_OLD", "1000"))
    print(
        f"event intake, {count} SES notifications, SQS stand-in at {LATENCY * 1000:.0f} ms a "
        f"round trip, SQLite, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    receivers = int(os.environ.get("BENCH_RECEIVERS", str(RECEIVERS)))
    new = drain(count, receivers, True)
    rate = new["events"] / new["seconds"]
    print(
        f"  batched ({receivers} receivers, 10 a receive, group commit, lean SQS calls): "
        f"{rate:7.0f} events/s "
        f"({new['events']} in {new['seconds']:.1f} s; {new['updated']} deliveries updated, "
        f"{new['suppressed']} suppressed, {new['unsubscribed']} unsubscribed; poller CPU "
        f"{new['cpu'] / new['events'] * 1e6:.0f} us/event); load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    old = drain(old_count, 1, False)
    old_rate = old["events"] / old["seconds"]
    print(
        f"  one message per transaction (1 receiver, DeleteMessage each; {old['events']} "
        f"notifications): {old_rate:7.1f} events/s ({old['seconds']:.1f} s; poller CPU "
        f"{old['cpu'] / old['events'] * 1e6:.0f} us/event)"
    )
    print(f"  ratio {rate / old_rate:.1f}x; load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--poll":
        poll_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), "--one-by-one" not in sys.argv)
    else:
        main()
