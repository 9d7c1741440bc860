"""On gunicorn with two workers: 200 concurrent RFC 8058 one-click POSTs for 200 subscribers (every
one
recorded, no 5xx), and one subscribe rate limit for both workers."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from mailer.audience.importing.importer import ImportRow, import_rows
from mailer.audience.lists import ensure_list
from mailer.content.lists import load_list
from mailer.store.db import session_factory, transaction
from mailer.store.models import ConsentEvent, Subscription
from mailer.tokens import make_token
from tests.conftest import DB_KINDS, REPO, SECRET
from tests.web.servers import start_gunicorn, stop

PEOPLE = 200


@pytest.fixture
def gunicorn(database_url, engine, tmp_path):
    proc, url = start_gunicorn(database_url, tmp_path, "mailer.web:create_app()")
    yield url
    stop(proc)


@pytest.mark.slow
@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_200_concurrent_one_click_unsubscribes(gunicorn, factory):
    with transaction(factory) as session:
        list_id = ensure_list(session, load_list(REPO / "lists", "ai-morning-post"))
    rows = [
        ImportRow(i + 2, f"load{i}@example.com", f"Load {i}", "confirmed") for i in range(PEOPLE)
    ]
    import_rows(factory, list_id, rows, [], "load")
    with factory() as session:
        ids = list(
            session.scalars(
                select(Subscription.subscriber_id).where(Subscription.list_id == list_id)
            )
        )
    assert len(ids) == PEOPLE

    def one_click(sub_id: int) -> int:
        token = make_token(SECRET, "unsubscribe", sub_id, "ai-morning-post")
        return requests.post(
            f"{gunicorn}/unsubscribe/{token}",
            data={"List-Unsubscribe": "One-Click"},
            allow_redirects=False,
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=PEOPLE) as pool:
        codes = list(pool.map(one_click, ids))
    assert codes == [200] * PEOPLE
    with factory() as session:
        statuses = dict(
            session.execute(
                select(Subscription.status, func.count()).group_by(Subscription.status)
            ).all()
        )
        recorded = session.scalar(
            select(func.count(func.distinct(ConsentEvent.subscriber_id))).where(
                ConsentEvent.action == "unsubscribe", ConsentEvent.source == "one-click"
            )
        )
    assert statuses == {"unsubscribed": PEOPLE}
    assert recorded == PEOPLE


@pytest.mark.slow
@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_the_subscribe_limit_holds_across_workers(database_url, engine, tmp_path):
    with transaction(session_factory(engine)) as session:
        ensure_list(session, load_list(REPO / "lists", "ai-morning-post"))
    proc, url = start_gunicorn(
        database_url, tmp_path, "mailer.web:create_app(subscribe_limit=(3, 600.0))"
    )
    try:

        def post(i: int) -> int:
            # a new connection per request, so that both workers take some of them
            with requests.Session() as http:
                form = http.get(f"{url}/subscribe/ai-morning-post", timeout=60).text
                fields = dict(
                    re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
                )
                return http.post(
                    f"{url}/subscribe", data={**fields, "email": f"w{i}@example.com"}, timeout=60
                ).status_code

        with ThreadPoolExecutor(max_workers=10) as pool:
            codes = list(pool.map(post, range(10)))
    finally:
        stop(proc)
    assert sorted(codes) == [200] * 3 + [429] * 7
