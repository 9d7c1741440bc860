"""The confirmation mail as a mail client reads it: parsed from the raw bytes the file transport
wrote."""

from __future__ import annotations

import email
import email.policy

import pytest

from tests.conftest import DB_KINDS
from tests.web.test_lifecycle_http import subscribe

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
HOSTILE_NAME = "WIN 1000 USD NOW at https://prize.evil.example/claim?x=1 \u2014 call +1 555 0100"


def test_the_confirmation_mail_holds_no_part_of_the_name(live):
    assert subscribe(live, "victim@example.com", name=HOSTILE_NAME).status_code == 200
    [path] = live.outbox_files()
    raw = path.read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert (
        message["To"].addresses[0].display_name == ""
        and message["To"].addresses[0].addr_spec == "victim@example.com"
    )
    texts = [str(value) for value in message.values()]
    texts += [
        part.get_content() for part in message.walk() if part.get_content_maintype() == "text"
    ]
    assert len(texts) > 8  # headers, the text part and the HTML part
    # fragments that cannot turn up by chance in a token, a Message-ID or a date
    for fragment in ("WIN 1000", "USD NOW", "prize", "evil.example", "claim?", "+1 555", "\u2014"):
        assert not any(fragment in text for text in texts), fragment


def test_no_quoted_printable_line_is_over_76_characters(live):
    assert subscribe(live, "ada@example.com").status_code == 200
    [path] = live.outbox_files()
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    parts = [
        part
        for part in message.walk()
        if part.get("Content-Transfer-Encoding") == "quoted-printable"
    ]
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    for part in parts:
        lines = part.get_payload(decode=False).splitlines()
        assert max(len(line) for line in lines) <= 76, (
            part.get_content_type(),
            max(lines, key=len),
        )
    html = message.get_body(("html",)).get_content()
    assert "Confirm my subscription" in html and "/confirm/" in html  # the soft breaks decode away
