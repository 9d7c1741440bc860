"""poll_queue in batches: 10 messages a receive, one transaction and one DeleteMessageBatch per
received batch, a failing message isolated from the rest of its batch (moto in server mode, for its
dead-letter queue), and several receivers and two poller processes sharing one queue (the
benchmark's SQS stand-in: moto's SQS is not safe under concurrent requests)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import boto3
import psutil
import pytest
from sqlalchemy import event, func, select

from mailer.store.models import Event
from mailer.track.intake import poll_queue
from tests.conftest import REPO
from tests.track.conftest import LEDGER
from tests.track.dbview import events, states
from tests.track.payloads import STATES_AFTER_THE_PAYLOADS, data, text
from tests.track.test_mail_unsubscribe import received, request_mail
from tests.track.test_poll import REGION, Setup

TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"  # raw delivery: no envelope to check


def run_standin(*flags: str):
    """(SQS client, queue URL, endpoint, process) of an empty queue on the SQS stand-in, no
    latency."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "track" / "sqs_endpoint.py"), *flags, "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        queue_url = proc.stdout.readline().strip()
        endpoint = queue_url.rsplit("/", 2)[0]
        client = boto3.client(
            "sqs",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        yield client, queue_url, endpoint, proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def standin():
    for client, queue_url, endpoint, _ in run_standin():
        yield client, queue_url, endpoint


@pytest.fixture
def gated_standin():
    """The stand-in whose receives wait for its SIGUSR1 (every poller connected, then go)."""
    yield from run_standin("--gated")


def connected(pid: int, port: int) -> bool:
    """Whether process `pid` has a TCP connection to 127.0.0.1:`port`."""
    try:
        sockets = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return False
    return any(s.raddr and s.raddr.port == port for s in sockets)


def drained(sqs, queue_url: str) -> bool:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    counts = attributes["Attributes"]
    return (
        counts["ApproximateNumberOfMessages"]
        == counts["ApproximateNumberOfMessagesNotVisible"]
        == "0"
    )


class Spy:
    """An SQS client that counts the calls made through it (boto3 clients are thread-safe)."""

    def __init__(self, client):
        self.client, self.calls = client, []

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(**kwargs):
            answer = method(**kwargs)
            self.calls.append((name, kwargs, answer))
            return answer

        return call

    def named(self, name: str) -> list:
        return [(kwargs, answer) for n, kwargs, answer in self.calls if n == name]


def commits(factory) -> list[int]:
    """A list that grows by one at every commit on the factory's engine."""
    seen: list[int] = []
    event.listen(factory.kw["bind"], "commit", lambda conn: seen.append(1))
    return seen


def delivery_for(n: int) -> str:
    """A Delivery event of its own (uncorrelated: no ledger row has its message id)."""
    payload = data("event_delivery.json")
    payload["mail"]["messageId"] = f"0100019a-bench-{n:06d}-000000"
    payload["mail"]["destination"] = [f"reader{n}@example.com"]
    payload["mail"]["tags"] = {}
    payload["delivery"]["recipients"] = [f"reader{n}@example.com"]
    return json.dumps(payload)


def enqueue(sqs, queue_url: str, bodies: list[str]) -> None:
    """Raw-delivery messages straight onto the queue (what SNS hands SQS without an envelope)."""
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies[start : start + 10])
        ]
        assert not sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")


LEDGER_EVENTS = [
    "event_send.json",  # settles frank's unknown row
    "event_delivery.json",
    "event_reject.json",
    "event_bounce_permanent.json",
    "event_complaint.json",
    "identity_delivery.json",
    "identity_bounce_permanent_multi.json",
    "identity_bounce_transient.json",
    "identity_complaint_with_type.json",
    "identity_complaint_without_type.json",
]


@pytest.mark.parametrize("receivers", [1, 4])
def test_a_received_batch_is_one_transaction_and_one_delete_batch(
    standin, factory, database_url, receivers
):
    sqs, queue_url, _ = standin
    enqueue(sqs, queue_url, [text(name) for name in LEDGER_EVENTS] * 2)  # each one twice
    spy, committed = Spy(sqs), commits(factory)

    result = poll_queue(
        spy, queue_url, factory, [TOPIC], once=True, wait_seconds=0, receivers=receivers
    )

    receives = spy.named("receive_message")
    assert all(kwargs["MaxNumberOfMessages"] == 10 for kwargs, _ in receives)
    batches = [answer["Messages"] for _, answer in receives if answer.get("Messages")]
    assert sum(len(b) for b in batches) == 20
    # one transaction per received batch, or fewer: batches that wait for the writer go together
    if receivers == 1:
        assert len(committed) == len(batches)
    else:
        assert 1 <= len(committed) <= len(batches)
    assert spy.named("delete_message") == []
    deleted = spy.named("delete_message_batch")
    assert len(deleted) == len(batches)
    assert sorted(e["ReceiptHandle"] for kwargs, _ in deleted for e in kwargs["Entries"]) == sorted(
        m["ReceiptHandle"] for b in batches for m in b
    )
    assert (result.messages_deleted, result.messages_left) == (20, 0)
    assert result.recorded == len(events(factory)) == 11 and result.duplicates == 11
    assert states(factory) == STATES_AFTER_THE_PAYLOADS
    assert drained(sqs, queue_url)


def test_the_old_path_is_one_transaction_and_one_delete_per_message(standin, factory, database_url):
    sqs, queue_url, _ = standin
    enqueue(sqs, queue_url, [text(name) for name in LEDGER_EVENTS])
    spy, committed = Spy(sqs), commits(factory)
    result = poll_queue(
        spy,
        queue_url,
        factory,
        [TOPIC],
        once=True,
        wait_seconds=0,
        receivers=1,
        batch_transactions=False,
    )
    assert (result.messages_deleted, result.recorded) == (10, 11)
    assert len(committed) == 10 and len(spy.named("delete_message")) == 10
    assert spy.named("delete_message_batch") == []


def test_a_message_that_fails_to_record_leaves_the_rest_of_its_batch_committed(
    aws, factory, database_url, caplog
):
    """The batch's transaction fails on one message: the others are recorded one by one and
    deleted; the failing one stays for redelivery, a garbage one for the dead-letter queue."""
    q = Setup(*aws, max_receive=1)
    bodies = [text(name) for name in LEDGER_EVENTS[:5]]
    bodies.insert(2, received(request_mail("unsubscribe")))  # its inbound raises
    bodies.append("garbage, raw")
    enqueue(q.sqs, q.queue_url, bodies)

    def broken_inbound(session, raw):
        raise RuntimeError("the request mail breaks the recording")

    spy = Spy(q.sqs)
    with caplog.at_level(logging.WARNING, logger="mailer.track"):
        result = poll_queue(
            spy,
            q.queue_url,
            factory,
            [q.topic],
            once=True,
            wait_seconds=0,
            receivers=1,
            inbound=broken_inbound,
        )

    assert (result.messages_deleted, result.messages_left, result.recorded) == (5, 2, 5)
    assert "recording them one by one" in caplog.text
    assert "the request mail breaks the recording" in caplog.text
    assert "left for the dead-letter queue" in caplog.text  # the garbage, before any transaction
    assert states(factory)[6] == "delivered" and states(factory)[9] == "failed"
    deleted = {
        e["ReceiptHandle"]
        for kwargs, _ in spy.named("delete_message_batch")
        for e in kwargs["Entries"]
    }
    kept = [
        m
        for _, answer in spy.named("receive_message")
        for m in answer.get("Messages", [])
        if m["ReceiptHandle"] not in deleted
    ]
    assert sorted(m["Body"] for m in kept) == sorted([bodies[2], "garbage, raw"])
    time.sleep(1.2)  # the visibility timeout: both move to the dead-letter queue
    assert q.bodies(q.queue_url) == []
    assert sorted(q.bodies(q.dlq_url)) == sorted([bodies[2], "garbage, raw"])


def test_two_poller_processes_on_one_queue_store_every_event_once(
    gated_standin, factory, database_url, tmp_path
):
    """Two `mailer events poll --once` at the same time on one queue that holds every
    notification twice (SNS delivers at least once): each event is stored once, and every ledger
    move and suppression happens as with one poller. The stand-in holds every receive until both
    processes are connected: on a busy machine one could drain the queue before the other has
    started (a CI run saw 600 and 0)."""
    sqs, queue_url, endpoint, standin_proc = gated_standin
    distinct = [text(name) for name in LEDGER_EVENTS] + [delivery_for(n) for n in range(290)]
    enqueue(sqs, queue_url, distinct + distinct[::-1])
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        MAILER_SNS_TOPIC_ARNS=TOPIC,
        MAILER_SQS_QUEUE_URL=queue_url,
        MAILER_LISTS_DIR=str(REPO / "lists"),
        MAILER_SECRET_KEY="",
        AWS_ENDPOINT_URL_SQS=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
    )
    command = [sys.executable, "-m", "mailer", "events", "poll", "--once", "--wait-seconds", "1"]
    pollers = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    port = int(endpoint.rsplit(":", 1)[1])
    deadline = time.monotonic() + 25  # within the pollers' 30 s read timeout
    while not all(connected(p.pid, port) for p in pollers) and time.monotonic() < deadline:
        time.sleep(0.05)
    standin_proc.send_signal(signal.SIGUSR1)
    outputs = [p.communicate(timeout=120)[0] for p in pollers]
    assert [p.returncode for p in pollers] == [0, 0], outputs

    handled = [int(out.split(" message(s) handled")[0].split()[-1]) for out in outputs]
    recorded = [int(out.split(" event(s) recorded")[0].split()[-1]) for out in outputs]
    assert sum(handled) == 600 and all(handled), outputs  # both took part
    assert sum(recorded) == 301, outputs  # 11 events of the ledger payloads, 290 deliveries
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 301
        assert session.scalar(select(func.count(func.distinct(Event.dedup_key)))) == 301
    assert states(factory) == STATES_AFTER_THE_PAYLOADS
    assert drained(sqs, queue_url)
    assert {d for d, _, _, _ in LEDGER} == set(states(factory))
