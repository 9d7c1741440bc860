"""On gunicorn with two workers: 200 concurrent RFC 8058 one-click POSTs for 200 subscribers (every
one
recorded, no 5xx), and one subscribe rate limit for both workers."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
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

PEOPLE = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn(database_url, engine, tmp_path):
    proc, url = start_gunicorn(database_url, tmp_path, "mailer.web:create_app()")
    yield url
    stop(proc)


def start_gunicorn(database_url, tmp_path, app_spec: str, extra: tuple[str, ...] = ()):
    """gunicorn as deploy/mailer-web.service runs it (2 gthread workers); `extra` flags override
    (a later flag wins)."""
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "MAILER_SECRET_KEY": SECRET,
            "MAILER_LISTS_DIR": str(REPO / "lists"),
            "MAILER_BASE_URL": f"http://127.0.0.1:{port}",
            "MAILER_OUTBOX": str(tmp_path / "outbox"),
        }
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "8",
            "--worker-class",
            "gthread",
            "--max-requests",
            "1000",
            "--timeout",
            "60",
            "--log-level",
            "warning",
            *extra,
            app_spec,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited: {proc.stdout.read().decode()[-2000:]}")
    else:
        proc.kill()
        pytest.fail("gunicorn did not answer /healthz within 60 s")
    return proc, url


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


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
