"""CPU per SES SendEmail call on the lean path, split into its steps: building the JSON body,
signing
it (SigV4), and the HTTP exchange (connection pool, request, response, framing), on one thread
against
the local SES stand-in (bench/ses_endpoint.py, 0 ms latency, in its own process so that its CPU does
not count). The message of bench/send.py (the issue of 2026-11-20, ~71 KB).

The HTTP exchange is measured as what a whole `send` costs beyond building and signing the body, so
the
same script measures any HTTP client behind the lean path. Best of several rounds of
`time.process_time`
(other processes on the machine only ever make a round slower). Also prints boto3's `send_email` for
the same message, measured in the same run, as the baseline.

    python bench/ses_call.py [CALLS_PER_ROUND]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.send.conftest import AWS_ENV, ISSUE, LIST  # noqa: E402

os.environ.update(AWS_ENV)

from bench.send import endpoint, settings_for  # noqa: E402
from mailer.content.load import load_issue_for  # noqa: E402
from mailer.render.issue import render_issue  # noqa: E402
from mailer.send.campaign import LinkMaker, PreparedIssue, personal_message  # noqa: E402
from mailer.transports.base import OutgoingMessage  # noqa: E402
from mailer.transports.ses import SesTransport  # noqa: E402

ROUNDS = 5


def message() -> OutgoingMessage:
    settings = settings_for(Path("/nonexistent.db"))
    content = load_issue_for(settings, LIST, ISSUE)
    prepared = PreparedIssue(0, 0, content, render_issue(content, LIST, settings.base_url))
    links = LinkMaker(settings, LIST)
    raw = personal_message(
        prepared, LIST, 1, links.recipient(1, 1, "reader1@example.com", "Reader")
    )
    return OutgoingMessage(
        delivery_id=1,
        send_id=1,
        recipient="reader1@example.com",
        raw=raw,
        batch="bench",
        tags={"send_id": "1", "delivery_id": "1"},
    )


def cpu_us(fn, calls: int) -> float:
    """Best-of-ROUNDS CPU microseconds per call of `fn`."""
    fn()  # warm: the first call opens the connection
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - start) / calls * 1e6)
    return best


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    proc, url = endpoint(0.0)
    try:
        msg = message()
        transport = SesTransport(endpoint_url=url, pool_size=1)
        lean = transport.lean
        body = lean.body(msg)
        body_us = cpu_us(lambda: lean.body(msg), calls)
        sign_us = cpu_us(lambda: lean.signed_headers(body), calls)
        send_us = cpu_us(lambda: lean.send(msg), calls)
        boto3_transport = SesTransport(endpoint_url=url, lean=False)
        boto3_us = cpu_us(lambda: boto3_transport.send(msg), max(calls // 5, 50))
        transport.close()
        boto3_transport.close()
    finally:
        proc.kill()
        proc.wait()
    print(
        f"SES call CPU per message, {len(msg.raw) / 1024:.0f} KB MIME, one thread, {calls} calls x "
        f"{ROUNDS} "
        f"rounds (best), load average {os.getloadavg()[0]:.2f}"
    )
    print(f"  lean send total  {send_us:7.0f} us")
    print(f"  . body           {body_us:7.0f} us")
    print(f"  . SigV4          {sign_us:7.0f} us")
    print(f"  . HTTP exchange  {send_us - body_us - sign_us:7.0f} us")
    print(
        f"  boto3 send_email {boto3_us:7.0f} us (baseline, same run: lean = "
        f"{send_us / boto3_us:.2f}x)"
    )


if __name__ == "__main__":
    main()
