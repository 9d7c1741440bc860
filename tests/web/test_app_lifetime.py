"""An app that is dropped takes its click flusher thread, its engine and its database connections
with it: a process that makes many apps (a test suite, a reloader) must not keep one connection per
app until it ends (PostgreSQL refuses clients past max_connections)."""

from __future__ import annotations

import dataclasses
import gc
import threading
import time

import pytest
from sqlalchemy import text

from mailer.web import create_app
from tests.conftest import DB_KINDS

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
APPS = 25


def flushers() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "mailer-click-counts")


def connections(engine) -> int | None:
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        ).scalar()


def test_dropped_apps_leave_no_thread_or_connection_behind(engine, settings, lists_dir):
    live_settings = dataclasses.replace(settings, lists_dir=lists_dir)
    gc.collect()
    threads_before, connections_before = flushers(), connections(engine)
    for _ in range(APPS):
        app = create_app(live_settings)
        assert app.test_client().get("/healthz").status_code == 200  # its engine connected
        app.extensions["mailer"]["outbound"].close()
        del app
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        gc.collect()
        if flushers() <= threads_before and (
            connections_before is None or connections(engine) <= connections_before + 2
        ):
            break
        time.sleep(0.5)
    assert flushers() <= threads_before
    if connections_before is not None:
        assert connections(engine) <= connections_before + 2
