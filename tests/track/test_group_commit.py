"""GroupCommit: the batches that wait while the writer is busy are recorded in the next
transaction, together; when that transaction fails, nothing of the group is stored and every
waiting batch is told so (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import threading
import time

from mailer.track.group_commit import GroupCommit
from mailer.track.record import read_notification
from tests.track.dbview import events, states
from tests.track.payloads import text
from tests.track.test_mail_unsubscribe import received, request_mail
from tests.track.test_poll_batches import commits, delivery_for


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def record_in_threads(group: GroupCommit, batches: list[list]) -> list:
    """Each batch from its own thread while the writer is held, then released: [result]."""
    results: list = [None] * len(batches)

    def run(n: int) -> None:
        results[n] = group.record(batches[n])

    with group.writer:
        threads = [threading.Thread(target=run, args=(n,)) for n in range(len(batches))]
        for thread in threads:
            thread.start()
        wait_for(lambda: group.waiting == len(batches))
    for thread in threads:
        thread.join(10)
    return results


def test_batches_that_wait_for_the_writer_are_one_transaction(factory, database_url):
    group = GroupCommit(factory, None, None, threading.Lock())
    batches = [
        [read_notification(delivery_for(10 * b + n), f"sns-{b}-{n}") for n in range(3)]
        for b in range(4)
    ]
    batches[2].append(read_notification(text("identity_delivery.json"), "sns-alice"))
    committed = commits(factory)

    results = record_in_threads(group, batches)

    assert len(committed) == 1
    assert sum(r.recorded for r in results) == 13 == len(events(factory))
    assert sorted(r.received for r in results) == [0, 0, 0, 13]  # the committing batch has it
    assert states(factory)[1] == "delivered"
    assert group.waiting == 0


def test_a_failed_group_transaction_stores_nothing_and_tells_every_batch(
    factory, database_url, caplog
):
    def broken_inbound(session, raw):
        raise RuntimeError("the request mail breaks the recording")

    group = GroupCommit(factory, None, broken_inbound, threading.Lock())
    batches = [
        [read_notification(delivery_for(1), "sns-1")],
        [read_notification(received(request_mail("unsubscribe")), None)],
    ]

    results = record_in_threads(group, batches)

    assert results == [None, None]
    assert events(factory) == []
    assert "was not recorded: recording them one by one" in caplog.text
    # the next batch has a transaction of its own again
    assert group.record([read_notification(delivery_for(2), "sns-2")]).recorded == 1
