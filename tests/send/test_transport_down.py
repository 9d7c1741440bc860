"""A transport nobody answers: `mailer send` pauses after MAILER_TRANSPORT_DOWN_AFTER seconds of
consecutive connection failures, exits 1 with the reason, loses and sends nothing, and a rerun once
the server is up sends everyone exactly once."""

from __future__ import annotations

import json
import re

from tests.send.conftest import ISSUE, ledger
from tests.send.helpers import mailer_env, run
from tests.send.smtpserver import FaultySmtp, free_port, start


def status(env) -> dict:
    result = run(env, "status", "--issue", ISSUE, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_paused_as_unreachable(result, env, factory, where: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    paused = [line for line in result.stdout.splitlines() if "PAUSED" in line]
    assert len(paused) == 1 and "unreachable" in paused[0] and where in paused[0], result.stdout
    assert "rerun" in paused[0] and "rerun the same command to resume" in result.stderr
    for done, total in re.findall(
        r"progress: (\d+)/(\d+)", result.stderr
    ):  # a retry is no progress
        assert int(done) <= int(total)
    info = status(env)
    assert info["state"] == "paused" and "unreachable" in info["pause_reason"]
    assert info["counts"] == {"queued": 21}  # none lost, none sent
    assert all(row.attempts == 0 for row in ledger(factory).values())  # nothing was handed over


def test_unreachable_smtp_server_pauses_the_send_and_a_rerun_sends_everyone_once(
    database_url, factory, sample_list
):
    port = free_port()  # nobody listens here (yet)
    env = mailer_env(
        database_url,
        "http://127.0.0.1:9",
        MAILER_TRANSPORT=f"smtp://127.0.0.1:{port}?timeout=5",
        MAILER_TRANSPORT_DOWN_AFTER="1",
    )
    down = run(env, "send", "--issue", ISSUE, "--yes")
    assert_paused_as_unreachable(down, env, factory, f"127.0.0.1:{port}")
    server = FaultySmtp()
    controller = start(server, port=port)
    try:
        up = run(env, "send", "--issue", ISSUE, "--yes", "--rate", "200")
    finally:
        controller.stop()
    assert up.returncode == 0, up.stdout + up.stderr
    assert "sent 21 now, 21 of 21" in up.stdout
    assert status(env)["counts"] == {"sent": 21}
    assert len(server.accepted) == 21 and max(server.accepted_addresses().values()) == 1


def test_unreachable_ses_endpoint_pauses_the_send_the_same_way(
    database_url, factory, sample_list, fake_ses
):
    port = free_port()
    env = mailer_env(database_url, f"http://127.0.0.1:{port}", MAILER_TRANSPORT_DOWN_AFTER="1")
    down = run(env, "send", "--issue", ISSUE, "--yes")
    assert_paused_as_unreachable(down, env, factory, f"127.0.0.1:{port}")
    up = run(
        mailer_env(database_url, fake_ses.url), "send", "--issue", ISSUE, "--yes", "--rate", "200"
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert status(env)["counts"] == {"sent": 21} and max(fake_ses.acknowledged().values()) == 1


def test_transport_down_after_must_be_a_positive_number(database_url, engine):
    env = mailer_env(database_url, "http://127.0.0.1:9", MAILER_TRANSPORT_DOWN_AFTER="soon")
    result = run(env, "send", "--issue", ISSUE, "--yes")
    assert result.returncode == 1 and "MAILER_TRANSPORT_DOWN_AFTER" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
