"""The fast import paths give the same rows, ids, subscriptions and consent records as the general
one:
new and known people in one batch, the worker-process reader, failures that undo a whole batch."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from mailer.audience.importing import batch as batch_module
from mailer.audience.importing.importer import import_rows, iter_csv
from mailer.audience.importing.reader import in_process
from mailer.audience.lists import ensure_list
from mailer.audience.suppressions import suppress
from mailer.content.lists import load_list
from mailer.errors import ImportFileError
from mailer.store.db import transaction
from mailer.store.models import ConsentEvent, Subscriber, Subscription
from tests.conftest import DB_KINDS, REPO

LIST = load_list(REPO / "lists", "ai-morning-post")
pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


def _list(factory) -> int:
    with transaction(factory) as session:
        return ensure_list(session, LIST)


def _import(factory, list_id, path, **options):
    problems: list[str] = []
    return import_rows(factory, list_id, iter_csv(path, problems), problems, path.name, **options)


def _stored(factory, list_id) -> tuple[dict, list]:
    """({email: (status, confirmed?, unsubscribed?)}, [(email, consent detail)]) joined through the
    ids."""
    with factory() as session:
        subs = session.execute(
            select(
                Subscriber.email,
                Subscription.status,
                Subscription.confirmed_at,
                Subscription.unsubscribed_at,
            )
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscription.list_id == list_id)
        ).all()
        consent = session.execute(
            select(Subscriber.email, ConsentEvent.detail)
            .join(ConsentEvent, ConsentEvent.subscriber_id == Subscriber.id)
            .where(ConsentEvent.action == "import", ConsentEvent.source == "import:csv")
            .order_by(ConsentEvent.id)
        ).all()
    return (
        {
            email: (status, confirmed is not None, left is not None)
            for email, status, confirmed, left in subs
        },
        [tuple(row) for row in consent],
    )


def test_a_batch_of_new_people_gets_the_right_ids_subscriptions_and_consent(factory, tmp_path):
    list_id = _list(factory)
    path = tmp_path / "new.csv"
    people = [
        (f"p{i:03d}@Example.com", ("confirmed", "pending", "unsubscribed")[i % 3])
        for i in range(300)
    ]
    path.write_text(
        "email,status\n" + "".join(f"{e},{s}\n" for e, s in reversed(people)), encoding="utf-8"
    )
    report = _import(factory, list_id, path, batch_size=120)
    assert (report.added, report.updated, report.unchanged, report.problems) == (300, 0, 0, [])
    subs, consent = _stored(factory, list_id)
    expected = {
        e.replace("Example", "example"): (s, s == "confirmed", s == "unsubscribed")
        for e, s in people
    }
    assert subs == expected
    line_of = {e.replace("Example", "example"): 301 - i for i, (e, _) in enumerate(people)}
    assert sorted(consent) == sorted(
        (e, f"new.csv:{line_of[e]}: status {s}") for e, (s, *_) in expected.items()
    )


def test_new_known_duplicate_bad_and_suppressed_rows_in_one_batch(factory, tmp_path):
    list_id = _list(factory)
    first = tmp_path / "first.csv"
    first.write_text(
        "email,name,status\nwait@example.com,W,pending\nleft@example.com,L,confirmed\n"
        "stay@example.com,S,confirmed\n",
        encoding="utf-8",
    )
    _import(factory, list_id, first)
    with transaction(factory) as session:
        session.execute(
            Subscription.__table__.update()
            .where(
                Subscription.subscriber_id
                == select(Subscriber.id)
                .where(Subscriber.email == "left@example.com")
                .scalar_subquery()
            )
            .values(status="unsubscribed")
        )
        suppress(session, "bounced@example.com", "hard-bounce")
    second = tmp_path / "second.csv"
    second.write_text(
        "email,name,status\n"
        "zed@example.com,Z,confirmed\n"  # 2 new
        "wait@EXAMPLE.com,W,confirmed\n"  # 3 known, pending -> confirmed
        "left@example.com,L,confirmed\n"  # 4 known, left: stays unsubscribed
        "not an address,X,confirmed\n"  # 5 bad
        "bounced@example.com,B,confirmed\n"  # 6 suppressed
        "zed@example.com,Z2,pending\n"  # 7 duplicate of 2
        "stay@example.com,S,pending\n"  # 8 known, confirmed stays confirmed
        "abe@example.com,A,pending\n",  # 9 new
        encoding="utf-8",
    )
    report = _import(factory, list_id, second)
    assert (report.added, report.updated, report.unchanged) == (2, 1, 2)
    assert [p.split(":")[0] for p in report.problems] == ["line 5", "line 6", "line 7"]
    subs, consent = _stored(factory, list_id)
    assert subs == {
        "wait@example.com": ("confirmed", True, False),
        "left@example.com": ("unsubscribed", True, False),
        "stay@example.com": ("confirmed", True, False),
        "zed@example.com": ("confirmed", True, False),
        "abe@example.com": ("pending", False, False),
    }
    assert sorted(consent[3:]) == [
        ("abe@example.com", "second.csv:9: status pending"),
        ("wait@example.com", "second.csv:3: status confirmed"),
        ("zed@example.com", "second.csv:2: status confirmed"),
    ]
    again = _import(factory, list_id, second)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 5)
    assert _stored(factory, list_id) == (subs, consent)


def test_worker_process_reader_gives_the_same_result_as_the_thread(factory, tmp_path):
    from tests.web.test_import_fuzz import fuzz_file

    list_id = _list(factory)
    path = tmp_path / "fuzz.csv"
    fuzz_file(path, "utf-8", 3000, seed=11)
    in_thread = _import(factory, list_id, path, batch_size=700, parse_in_process=False)
    with transaction(factory) as session:
        for table in ("consent_events", "subscriptions", "subscribers"):
            session.execute(text(f"DELETE FROM {table}"))
    in_worker = _import(factory, list_id, path, batch_size=700, parse_in_process=True)
    assert in_worker == in_thread and in_worker.added > 2000 and len(in_worker.problems) > 300


def test_a_failing_batch_leaves_earlier_batches_in_and_itself_out(factory, tmp_path, monkeypatch):
    list_id = _list(factory)
    path = tmp_path / "people.csv"
    path.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(10)), encoding="utf-8")
    calls = []
    original = batch_module.import_batch

    def second_fails(session, *args):
        calls.append(1)
        result = original(session, *args)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return result

    monkeypatch.setattr("mailer.audience.importing.importer.import_batch", second_fails)
    with pytest.raises(RuntimeError, match="disk full"):
        _import(factory, list_id, path, batch_size=4)
    with factory() as session:
        assert session.scalar(text("SELECT count(*) FROM subscribers")) == 4
        assert session.scalar(text("SELECT count(*) FROM subscriptions")) == 4
        assert session.scalar(text("SELECT count(*) FROM consent_events")) == 4
    monkeypatch.undo()
    report = _import(factory, list_id, path, batch_size=4)
    assert (report.added, report.unchanged) == (6, 4)


def _fails_after_one(path):
    yield "first", ["line 2: reported before the failure"]
    raise ImportFileError(f"{path}: line 3: cannot be read")


def test_worker_process_errors_reach_the_importer(database_url):
    problems: list[str] = []
    items = in_process(_fails_after_one, ("people.csv",), problems)
    assert next(items) == "first"
    with pytest.raises(ImportFileError, match="people.csv: line 3: cannot be read"):
        next(items)
    assert problems == ["line 2: reported before the failure"]


def test_prepared_batches_keep_rows_and_hash_as_suppressions_do(database_url):
    from mailer.addresses import address_hash
    from mailer.audience.importing.prep import digest, prepare

    rows = [
        (3, "b@example.com", "B, Jr.", "pending"),
        (2, "a@example.com", "", "unsubscribed"),
        (4, "Ça@bücher.example", "Zoë", "confirmed"),
    ]
    batch = prepare(rows, "salt")
    assert batch.rows == sorted(rows, key=lambda row: row[1]) and len(batch) == 3
    assert digest("A@Example.com", "salt").hex() == address_hash("A@Example.com", "salt")
    assert batch.rows_with_digests({digest("b@example.com", "salt")}) == [rows[0]]
