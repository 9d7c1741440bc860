"""The smtp transport against an aiosmtpd server: one message per recipient, 454 throttling treated
like SES throttling, a rejected recipient failing only its row."""

from __future__ import annotations

import socket
import uuid

import pytest
from aiosmtpd.controller import Controller

from mailer.config import parse_smtp_url
from mailer.transports.smtp import SmtpTransport
from tests.send.conftest import ledger, send
from tests.send.fakeses import parse

ADA, ALAN = "ada.lovelace@example.com", "alan.turing@example.org"


class Recorder:
    def __init__(self):
        self.messages, self.throttled = [], set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == ADA and address not in self.throttled:
            self.throttled.add(address)
            return "454 Throttling failure: Maximum sending rate exceeded."
        if address == ALAN:
            return "550 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message_id = uuid.uuid4().hex
        self.messages.append((list(envelope.rcpt_tos), envelope.content, message_id))
        return f"250 Ok {message_id}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, controller.port
    controller.stop()


def test_smtp_sends_one_message_per_recipient_and_handles_454(
    factory, settings, sample_list, smtp_server
):
    recorder, port = smtp_server
    transport = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{port}?timeout=5"))
    try:
        summary = send(factory, settings, transport, concurrency=4)
    finally:
        transport.close()
    assert summary.state == "done" and summary.counts == {"sent": 20, "failed": 1}
    rows = ledger(factory)
    assert rows[ALAN].state == "failed" and "550" in rows[ALAN].last_error
    assert rows[ADA].state == "sent" and rows[ADA].attempts == 2
    assert len(recorder.messages) == 20
    ids = {message_id for _, _, message_id in recorder.messages}
    for rcpts, content, message_id in recorder.messages:
        assert len(rcpts) == 1 and parse(content)["To"].addresses[0].addr_spec == rcpts[0]
        assert rows[rcpts[0]].provider_message_id == message_id
    assert all(row.provider_message_id in ids for row in rows.values() if row.state == "sent")


@pytest.mark.parametrize(
    "url, words",
    [
        ("smtp://host:port", "port"),
        ("smtp://:25", "host"),
        ("smtp://host:25?starttls=maybe", "yes/no"),
        ("smtp://host:25?tls=1", "unknown option"),
    ],
)
def test_malformed_smtp_urls_name_the_problem(url, words):
    with pytest.raises(ValueError, match=words):
        parse_smtp_url(url)
