"""The ledger's own rules, on SQLite and PostgreSQL: compare-and-set claims, the settling of rows a
gone worker left, and reads that write nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from mailer.content.load import load_issue_for
from mailer.send.campaign import plan_issue, preview_plan, send_status
from mailer.send.ledger import Ledger, Outcome
from mailer.store.models import Delivery, DeliveryState, Issue, MailingList, Send, utcnow
from tests.conftest import DB_KINDS
from tests.send.conftest import ISSUE, LIST, ledger

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
LEASE = dt.timedelta(seconds=120)
GONE_WORKER = "another-host:1:dead00"  # another host: judged by its lease alone


def planned(factory, settings) -> tuple[Ledger, int, int]:
    prepared, send = plan_issue(factory, settings, LIST, load_issue_for(settings, LIST, ISSUE))
    return Ledger(factory), send.send_id, prepared.list_id


def test_planning_twice_plans_once(factory, settings, sample_list):
    _, first = plan_issue(factory, settings, LIST, load_issue_for(settings, LIST, ISSUE))
    _, again = plan_issue(factory, settings, LIST, load_issue_for(settings, LIST, ISSUE))
    assert first.newly_planned and not again.newly_planned
    assert (again.send_id, again.planned_count) == (first.send_id, first.planned_count)
    assert first.planned_count == 21
    assert Ledger(factory).counts(first.send_id) == {DeliveryState.QUEUED: 21}


def test_an_outcome_is_recorded_only_by_the_worker_holding_the_row(factory, settings, sample_list):
    book, send_id, list_id = planned(factory, settings)
    batch = book.claim(send_id, list_id, 2, "w1")
    assert len(batch.ready) == 2 and batch.skipped == 0
    first, second = batch.ready
    book.finish_many([Outcome(first, DeliveryState.SENT, message_id="m-1")], "w2")  # not its row
    book.finish_many([Outcome(second, DeliveryState.SENT, message_id="m-2")], "w1")
    book.release([first.id, second.id], "w1")  # only the row still 'sending' goes back
    rows = {row.id: row for row in ledger(factory).values()}
    assert (rows[first.id].state, rows[first.id].attempts) == (DeliveryState.QUEUED, 0)
    assert rows[second.id].state == DeliveryState.SENT
    assert rows[second.id].provider_message_id == "m-2"


def test_rows_of_a_gone_worker_are_settled_and_a_live_ones_are_not(factory, settings, sample_list):
    book, send_id, list_id = planned(factory, settings)
    told, unknown, live = book.claim(send_id, list_id, 3, GONE_WORKER).ready
    with factory.begin() as session:  # two went silent for longer than a lease
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_([told.id, unknown.id]))
            .values(claimed_at=utcnow() - 2 * LEASE)
        )
    settled = book.prepare_run(send_id, LIST.domain, LEASE, {told.id: True}.get)
    rows = {row.id: row for row in ledger(factory).values()}
    assert settled == 2
    assert rows[told.id].state == DeliveryState.SENT
    assert rows[unknown.id].state == DeliveryState.UNKNOWN
    assert "interrupted" in rows[unknown.id].last_error
    assert rows[live.id].state == DeliveryState.SENDING
    assert all(row.message_id for row in rows.values() if row.state == DeliveryState.QUEUED)


def test_status_and_preview_write_nothing(factory, settings, sample_list):
    before = _row_counts(factory)
    assert send_status(factory, settings, LIST, ISSUE)["state"] == "not planned"
    preview = preview_plan(factory, settings, LIST, load_issue_for(settings, LIST, ISSUE))
    assert preview.counts == {DeliveryState.QUEUED: 21} and not preview.already_planned
    assert _row_counts(factory) == before


def test_status_of_a_fresh_database_inserts_no_list(factory, settings):
    info = send_status(factory, settings, LIST, ISSUE)
    assert info == {
        "list": LIST.slug,
        "issue": ISSUE,
        "state": "not planned",
        "pause_reason": None,
        "planned": 0,
        "counts": {},
    }
    assert _row_counts(factory) == {"lists": 0, "issues": 0, "sends": 0, "deliveries": 0}


def _row_counts(factory) -> dict[str, int]:
    with factory() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (MailingList, Issue, Send, Delivery)
        }
