"""Message-IDs unique in the world: a receiver (Gmail) drops a message whose Message-ID it has seen,
so
no two installations, databases or test sends may repeat one; a re-send of the same delivery must.

The messages are read back with Python's email parser, from the file outbox or as the SES endpoint
received them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from mailer.store.db import make_engine, session_factory
from mailer.store.models import Delivery
from tests.conftest import DB_KINDS, REPO, fresh_database
from tests.send import fakeses
from tests.send.conftest import ISSUE, LIST, ledger, send, ses_transport
from tests.send.helpers import mailer_env, run

ADA = "ada.lovelace@example.com"
# 128 bits or more of randomness, then our domain
MESSAGE_ID = re.compile(r"<[A-Za-z0-9_-]{22,}@" + re.escape(LIST.domain) + ">")


def file_env(database_url: str, outbox) -> dict[str, str]:
    return mailer_env(
        database_url, "http://127.0.0.1:9", MAILER_TRANSPORT="file", MAILER_OUTBOX=str(outbox)
    )


def ok(result) -> None:
    assert result.returncode == 0, result.stderr


def message_ids(folder) -> dict[str, str]:
    """address -> Message-ID of every message under `folder`."""
    found = {}
    for path in sorted(folder.rglob("*.eml")):
        msg = fakeses.parse(path.read_bytes())
        found[msg["To"].addresses[0].addr_spec] = msg["Message-ID"]
    return found


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_fresh_databases_sending_the_same_issue_share_no_message_id(kind, tmp_path):
    ids = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        with fresh_database(kind, tmp_path / name) as url:
            env = file_env(url, tmp_path / name / "outbox")
            ok(run(env, "db", "upgrade"))
            ok(
                run(
                    env, "subscribers", "import", str(REPO / "lists" / "ai-morning-post.sample.csv")
                )
            )
            ok(run(env, "send", "--issue", ISSUE, "--yes"))
            sent = message_ids(tmp_path / name / "outbox")
            engine = make_engine(url)
            with session_factory(engine)() as session:
                stored = dict(session.execute(select(Delivery.email, Delivery.message_id)).all())
            engine.dispose()
        assert len(sent) == 21 and all(MESSAGE_ID.fullmatch(value) for value in sent.values()), sent
        assert stored == sent  # the ledger keeps what went out
        ids.append(set(sent.values()))
    assert len(ids[0]) == len(ids[1]) == 21
    assert not ids[0] & ids[1]


def test_two_test_sends_carry_different_message_ids(database_url, engine, tmp_path):
    env = file_env(database_url, tmp_path / "outbox")
    seen = []
    for _ in range(2):
        ok(run(env, "send", "--issue", ISSUE, "--to", "editor@example.com"))
        seen.append(message_ids(tmp_path / "outbox")["editor@example.com"])
    assert all(MESSAGE_ID.fullmatch(value) for value in seen), seen
    assert seen[0] != seen[1]


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_resend_unknown_repeats_the_first_attempts_message_id(
    factory, settings, sample_list, fake_ses
):
    fake_ses.faults = lambda address, seen: fakeses.DROP if address == ADA and seen == 0 else None
    first = send(factory, settings, ses_transport(fake_ses.url))
    assert first.counts == {"sent": 20, "unknown": 1}
    resent = send(factory, settings, ses_transport(fake_ses.url), resend_unknown=True)
    assert resent.sent_now == 1 and resent.counts == {"sent": 21}
    attempts = [fakeses.parse(r.raw)["Message-ID"] for r in fake_ses.received if r.address == ADA]
    assert len(attempts) == 2 and attempts[0] == attempts[1] and MESSAGE_ID.fullmatch(attempts[0])
    assert ledger(factory)[ADA].message_id == attempts[0]
    others = {fakeses.parse(r.raw)["Message-ID"] for r in fake_ses.received if r.address != ADA}
    assert len(others) == 20 and attempts[0] not in others


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_rows_planned_before_the_column_get_ids_when_their_send_resumes(
    engine, factory, settings, sample_list, tmp_path
):
    from alembic import command

    from mailer.store.db import alembic_config, upgrade
    from mailer.transports import FileTransport

    canary = send(factory, settings, FileTransport(settings.outbox_dir), limit=5)
    assert canary.counts == {"sent": 5, "queued": 16}
    command.downgrade(alembic_config(engine), "0002")  # the column goes, and comes back empty:
    upgrade(engine)  # rows as a database at 0002 had them
    with factory() as session:
        assert set(session.scalars(select(Delivery.message_id))) == {None}
    rest = send(factory, settings, FileTransport(settings.outbox_dir))
    assert rest.counts == {"sent": 21}
    rows = ledger(factory)
    sent = message_ids(settings.outbox_dir)
    assert (
        len(sent) == 21
        and len(set(sent.values())) == 21
        and all(map(MESSAGE_ID.fullmatch, sent.values()))
    )
    before = {row.email for row in rows.values() if row.message_id is None}
    assert len(before) == 5  # sent before the downgrade: their id is not known, so none is made up
    assert all(
        row.message_id == sent[address] for address, row in rows.items() if address not in before
    )
