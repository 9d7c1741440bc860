"""Load the SES payloads in tests/payloads (written from the SES documentation's examples)."""

from __future__ import annotations

import json
from pathlib import Path

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"

M_ALICE = "0100019aa1b2c3d4-11111111-2222-4333-8444-555555555555-000000"
M_MULTI = "0100019aa1b2c3d5-22222222-2222-4333-8444-555555555555-000000"
M_DAVE = "0100019aa1b2c3d6-33333333-2222-4333-8444-555555555555-000000"
M_ERIN = "0100019aa1b2c3d7-44444444-2222-4333-8444-555555555555-000000"
M_FRANK = "0100019aa1b2c3d8-55555555-2222-4333-8444-555555555555-000000"
M_GRACE = "0100019aa1b2c3d9-66666666-2222-4333-8444-555555555555-000000"
M_HEIDI = "0100019aa1b2c3da-77777777-2222-4333-8444-555555555555-000000"
M_IVAN = "0100019aa1b2c3db-88888888-2222-4333-8444-555555555555-000000"


def text(name: str) -> str:
    return (PAYLOADS / name).read_text(encoding="utf-8")


def data(name: str) -> dict:
    return json.loads(text(name))


def transient_bounce(n: int, when: str, message_id: str | None = None) -> str:
    """The transient-bounce payload as the n-th distinct bounce (own message and feedback ids)."""
    payload = data("identity_bounce_transient.json")
    payload["bounce"]["feedbackId"] = f"feedback-transient-{n}"
    payload["bounce"]["timestamp"] = when
    payload["mail"]["messageId"] = message_id or f"0100019a-transient-{n}-000000"
    return json.dumps(payload)


# The ledger (tests/track/conftest.py LEDGER) once every payload of the poll tests is recorded: the
# furthest state each delivery's events prove.
STATES_AFTER_THE_PAYLOADS = {
    1: "complained",
    2: "bounced",
    3: "bounced",
    4: "complained",
    5: "bounced",
    6: "delivered",
    7: "bounced",
    8: "complained",
    9: "failed",
}
