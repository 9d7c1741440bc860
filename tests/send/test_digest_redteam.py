"""Red-team weekly digests: two `mailer digest send` processes started together (subprocesses, as
two operators or a cron job and an operator would) send each weekly reader one digest; a pause
ending the day after the digest day keeps the reader out of it. Real databases, the outbox read
with the email package."""

from __future__ import annotations

import datetime as dt
import email
from collections import Counter
from email.policy import default as default_policy

import pytest
from sqlalchemy import func, select

from mailer.store.models import Cadence, Delivery, Digest, Send
from tests.conftest import DB_KINDS
from tests.send.conftest import add_subscribers
from tests.send.helpers import run, start
from tests.send.test_digest import SUNDAY, _set, cli_env, lists_dir, reader, send_week  # noqa: F401

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
WEEKLY = 300


def digest_recipients(settings) -> Counter:
    folder = settings.outbox_dir / "ai-morning-post" / f"digest-{SUNDAY}"
    found: Counter = Counter()
    for path in folder.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
        found[message["To"].addresses[0].addr_spec] += 1
    return found


def test_two_digest_sends_started_together_send_each_reader_one_digest(
    database_url,
    factory,
    settings,
    lists_dir,  # noqa: F811
):
    add_subscribers(factory, WEEKLY + 1)
    _set(factory, [reader(i) for i in range(WEEKLY)], cadence=Cadence.WEEKLY)
    send_week(factory, settings)
    env = cli_env(database_url, settings, lists_dir)
    args = ("digest", "send", "--date", SUNDAY.isoformat(), "--yes")
    procs = [start(env, *args) for _ in range(2)]
    results = [proc.communicate(timeout=180) + (proc.returncode,) for proc in procs]
    for _out, err, code in results:
        assert code == 0, err
        assert "Traceback" not in err
    recipients = digest_recipients(settings)
    assert set(recipients.values()) == {1}, recipients.most_common(3)
    assert set(recipients) == {reader(i) for i in range(WEEKLY)}
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Digest)) == 1
        states = dict(
            session.execute(
                select(Delivery.state, func.count())
                .join(Send, Send.id == Delivery.send_id)
                .where(Send.kind == "digest")
                .group_by(Delivery.state)
            ).all()
        )
    assert states == {"sent": WEEKLY}


def test_a_pause_ending_the_day_after_the_digest_day_skips_that_digest_only(
    database_url,
    factory,
    settings,
    lists_dir,  # noqa: F811
):
    add_subscribers(factory, 2)
    _set(factory, [reader(0), reader(1)], cadence=Cadence.WEEKLY)
    send_week(factory, settings)
    _set(factory, [reader(1)], paused_until=SUNDAY + dt.timedelta(days=1))
    env = cli_env(database_url, settings, lists_dir)
    sent = run(env, "digest", "send", "--date", SUNDAY.isoformat(), "--yes")
    assert sent.returncode == 0, sent.stderr
    assert set(digest_recipients(settings)) == {reader(0)}
