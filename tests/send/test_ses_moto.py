"""The ses transport against moto in server mode: one raw message per recipient, the right headers,
one recipient each, and moto's MessageId in every ledger row."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.conftest import DB_KINDS
from tests.send.conftest import ledger, send, ses_transport
from tests.send.fakeses import parse


def moto_raw_messages(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/moto-api/data.json") as response:
        data = json.load(response)
    return data["ses"]["RawMessage"]


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_sample_list_goes_through_moto_one_raw_message_per_recipient(
    factory, settings, sample_list, moto_url
):
    transport = ses_transport(moto_url)
    summary = send(factory, settings, transport)
    assert summary.state == "done" and summary.counts == {"sent": 21}
    raw_messages = moto_raw_messages(moto_url)
    assert len(raw_messages) == 21
    rows = ledger(factory)
    by_id = {m["id"]: m for m in raw_messages}
    for row in rows.values():
        assert row.state == "sent" and row.provider_message_id in by_id
        stored = by_id[row.provider_message_id]
        assert {d.split("<")[-1].rstrip(">") for d in stored["destinations"]} == {row.email}
        msg = parse(stored["raw_data"].encode())
        assert msg["To"].addresses[0].addr_spec == row.email and len(msg["To"].addresses) == 1
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        for header in (
            "From",
            "Subject",
            "Date",
            "Message-ID",
            "List-Unsubscribe",
            "List-Id",
            "Feedback-ID",
        ):
            assert msg[header], header
        assert msg["Bcc"] is None and msg["Cc"] is None
    assert "ken.thompson@example.com" not in rows  # unsubscribed before planning


def test_moto_quota_is_read_and_caps_the_rate(moto_url):
    limits = ses_transport(moto_url).limits()  # moto has no GetAccount: the GetSendQuota fallback
    assert limits.max_send_rate == 200 and limits.max_24h == 200
