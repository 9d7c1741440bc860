"""An SMTP server that says no, through `mailer send`, `mailer status` and `mailer report` as an
operator runs them: whatever the server answers at MAIL, RCPT or after the message (DATA), the rows
recorded `sent` are exactly the messages the server accepted, each once."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import update

from mailer.send.pipeline import MAX_ATTEMPTS
from mailer.store.db import transaction
from mailer.store.models import Delivery
from tests.send.conftest import ISSUE, ledger, send
from tests.send.helpers import mailer_env, run
from tests.send.smtpserver import DROP, FaultySmtp, start

ADA, ALAN, GRACE, CLAUDE = (
    "ada.lovelace@example.com",
    "alan.turing@example.org",
    "grace.hopper@example.net",
    "claude.shannon@example.com",
)
KATHERINE, JOHN, MARVIN = (
    "katherine.johnson@example.org",
    "john.mccarthy@example.com",
    "marvin.minsky@example.net",
)
BARBARA, DONALD, FEIFEI = (
    "barbara.liskov@example.com",
    "donald.knuth@example.org",
    "fei-fei.li@example.com",
)


@pytest.fixture
def smtp():
    servers = []

    def serve(handler: FaultySmtp, **kwargs):
        servers.append(start(handler, **kwargs))
        return servers[-1].port

    yield serve
    for controller in servers:
        controller.stop()


def smtp_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    return mailer_env(
        database_url,
        "http://127.0.0.1:9",
        MAILER_TRANSPORT=f"smtp://127.0.0.1:{port}?timeout=5",
        **extra,
    )


def status_and_report(env) -> tuple[dict, dict]:
    status = run(env, "status", "--issue", ISSUE, "--json")
    report = run(env, "report", "--issue", ISSUE, "--json")
    assert status.returncode == 0 and report.returncode == 0, status.stderr + report.stderr
    return json.loads(status.stdout), json.loads(report.stdout)


def assert_status_and_report_agree(status: dict, report: dict) -> None:
    counts = status["counts"]
    assert report["sent"] == counts.get("sent", 0) and report["failed"] == counts.get("failed", 0)
    assert report["unknown"] == counts.get("unknown", 0) and report["queued"] == counts.get(
        "queued", 0
    )
    assert report["planned"] == sum(counts.values()) and report["state"] == status["state"]


def assert_sent_is_what_the_server_accepted(factory, server: FaultySmtp) -> dict[str, Delivery]:
    rows = ledger(factory)
    accepted = server.accepted_addresses()
    assert max(accepted.values()) == 1  # nobody got it twice
    assert {a for a, r in rows.items() if r.state == "sent"} == set(accepted)
    ids = {address: message_id for address, message_id, _ in server.accepted}
    assert all(
        rows[address].provider_message_id == message_id for address, message_id in ids.items()
    )
    assert not any(
        "503" in (r.last_error or "") for r in rows.values()
    )  # no "nested MAIL" aftermath
    return rows


def test_replies_at_rcpt_and_after_data_decide_each_row(database_url, factory, sample_list, smtp):
    server = FaultySmtp(
        rcpt={
            ALAN: ["550 5.1.1 no such mailbox (RCPT)"] * 9,
            GRACE: ["451 4.2.1 greylisted (RCPT)"],
            CLAUDE: ["421 4.3.2 shutting down (RCPT)"],
            KATHERINE: [DROP],
        },
        data={
            JOHN: ["550 5.6.0 content rejected (DATA)"] * 9,
            MARVIN: ["451 4.3.0 queue full (DATA)"],
            BARBARA: ["421 4.3.2 shutting down (DATA)"],
            DONALD: [DROP],
            FEIFEI: ["554 5.7.1 looks like spam (DATA)"] * 9,
        },
    )
    env = smtp_env(database_url, smtp(server))
    result = run(env, "send", "--issue", ISSUE, "--yes", "--rate", "200", "--concurrency", "4")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    progress = [
        (int(done), int(total))
        for done, total in re.findall(r"progress: (\d+)/(\d+)", result.stderr)
    ]
    assert progress and all(done <= total for done, total in progress)  # retries are not progress
    rows = assert_sent_is_what_the_server_accepted(factory, server)
    by_state = {
        state: {a for a, r in rows.items() if r.state == state}
        for state in ("sent", "failed", "unknown")
    }
    assert by_state["failed"] == {ALAN, JOHN, FEIFEI} and by_state["unknown"] == {DONALD}
    assert len(by_state["sent"]) == 17
    assert "550 5.1.1 no such mailbox (RCPT)" in rows[ALAN].last_error
    assert "550 5.6.0 content rejected (DATA)" in rows[JOHN].last_error
    assert "554 5.7.1 looks like spam (DATA)" in rows[FEIFEI].last_error
    # 4xx: requeued and sent on a later attempt; 421 or a drop before the final dot: a new
    # connection,
    # same attempt; a drop after the final dot: unknown, never sent again blindly.
    assert rows[GRACE].attempts == 2 and rows[MARVIN].attempts == 2
    assert (
        rows[CLAUDE].attempts == 1 and rows[BARBARA].attempts == 1 and rows[KATHERINE].attempts == 1
    )
    assert rows[DONALD].attempts == 1 and DONALD not in server.accepted_addresses()
    status, report = status_and_report(env)
    assert status["counts"] == {"sent": 17, "failed": 3, "unknown": 1} and status["state"] == "done"
    assert_status_and_report_agree(status, report)


def test_replies_at_mail_fail_or_retry_only_their_row(database_url, factory, sample_list, smtp):
    server = FaultySmtp(
        mail={
            1: "451 4.3.0 try again later (MAIL)",
            2: "421 4.3.2 shutting down (MAIL)",
            4: "550 5.7.1 sender not allowed (MAIL)",
        }
    )
    env = smtp_env(database_url, smtp(server))
    result = run(env, "send", "--issue", ISSUE, "--yes", "--rate", "200", "--concurrency", "2")
    assert result.returncode == 0, result.stderr
    rows = assert_sent_is_what_the_server_accepted(factory, server)
    failed = [r for r in rows.values() if r.state == "failed"]
    assert len(failed) == 1 and "550 5.7.1 sender not allowed (MAIL)" in failed[0].last_error
    assert sum(r.state == "sent" for r in rows.values()) == 20
    assert sorted(r.attempts for r in rows.values()).count(2) == 1  # the 451 row, after its backoff
    status, report = status_and_report(env)
    assert status["counts"] == {"sent": 20, "failed": 1}
    assert_status_and_report_agree(status, report)


def test_a_temporary_failure_waits_before_the_row_is_tried_again(
    factory, settings, sample_list, smtp
):
    from mailer.config import parse_smtp_url
    from mailer.transports.smtp import SmtpTransport

    server = FaultySmtp(rcpt={ADA: ["451 4.2.1 greylisted (RCPT)"]})
    port = smtp(server)
    transport = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{port}?timeout=5"))
    try:  # a run that will not wait for retries: the greylisted row stays queued, due later
        first = send(factory, settings, transport, max_retry_wait=0.2)
        row = ledger(factory)[ADA]
        assert first.state == "paused" and "for a retry" in first.pause_reason
        assert (
            row.state == "queued"
            and row.not_before is not None
            and "451 4.2.1 greylisted" in row.last_error
        )
        assert ADA not in server.accepted_addresses() and len(server.accepted) == 20
        second = send(factory, settings, transport)  # waits until the row is due, then sends it
    finally:
        transport.close()
    assert second.state == "done" and second.counts == {"sent": 21}
    row = ledger(factory)[ADA]
    naive = lambda stamp: stamp.replace(tzinfo=None)  # noqa: E731 - both UTC; SQLite drops the offset
    assert row.attempts == 2 and naive(row.sent_at) >= naive(row.not_before)
    assert server.accepted_addresses()[ADA] == 1


def test_a_row_that_keeps_failing_temporarily_fails_with_the_last_reason(
    factory, settings, sample_list, smtp
):
    from mailer.config import parse_smtp_url
    from mailer.transports.smtp import SmtpTransport

    server = FaultySmtp(data={ADA: ["451 4.3.0 queue full (DATA)"] * 20})
    transport = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{smtp(server)}?timeout=5"))
    try:
        assert send(factory, settings, transport, limit=0).counts == {
            "queued": 21
        }  # planned, nothing sent
        with transaction(
            factory
        ) as session:  # as if it had been tried and requeued MAX_ATTEMPTS - 1 times
            changed = session.execute(
                update(Delivery).where(Delivery.email == ADA).values(attempts=MAX_ATTEMPTS - 1)
            ).rowcount
        assert changed == 1
        summary = send(factory, settings, transport)
    finally:
        transport.close()
    row = ledger(factory)[ADA]
    assert summary.state == "done" and summary.counts == {"sent": 20, "failed": 1}
    assert row.state == "failed" and row.attempts == MAX_ATTEMPTS
    assert (
        f"gave up after {MAX_ATTEMPTS} attempts" in row.last_error
        and "451 4.3.0 queue full" in row.last_error
    )
