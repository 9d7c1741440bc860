"""Shared fixtures: real databases built with the Alembic migrations, on SQLite and (when
MAILER_TEST_DATABASE_URL is set) PostgreSQL, each test in its own database or schema."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mailer.config import Settings, normalise_database_url
from mailer.store.db import make_engine, session_factory, upgrade
from tests.contrast import axe_source, launch, sync_playwright

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("MAILER_TEST_DATABASE_URL")
SECRET = "test-secret-key-0123456789abcdef"

DB_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_collection_modifyitems(config, items):
    if PG_URL:
        return
    skip = pytest.mark.skip(
        reason="PostgreSQL run skipped: set MAILER_TEST_DATABASE_URL (e.g. "
        "postgresql://postgres@127.0.0.1:5432/test) to run it"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@contextmanager
def private_schema(url: str, prefix: str = "t_") -> Iterator[str]:
    """A schema of its own on the PostgreSQL at `url`, dropped at the end: the URL that uses it
    (bench/harness.py makes its databases with it too)."""
    schema = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a private schema on the test PostgreSQL."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailer.db'}"
        return
    with private_schema(PG_URL) as url:
        yield url


@pytest.fixture(scope="module")
def moto_url():
    """moto in server mode (SES, SNS, SQS) for a test module; tests/send has its own, with SES's
    quota raised."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"
    server.stop()


@pytest.fixture
def database_url(request, tmp_path):
    """SQLite unless a test parametrises it indirectly with DB_KINDS."""
    with fresh_database(getattr(request, "param", "sqlite"), tmp_path) as url:
        yield url


@pytest.fixture
def engine(database_url):
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def factory(engine):
    return session_factory(engine)


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=SECRET,
        base_url="https://news.example",
        outbox_dir=tmp_path / "outbox",
        issues_path=(REPO / "issues",),
        lists_dir=REPO / "lists",
    )


@pytest.fixture
def workdir(tmp_path):
    """An operator's folder: its own copy of lists/ and issues/, nothing else (the CLI tests run
    `mailer` in it, tests.cli.test_cli.mailer)."""
    shutil.copytree(REPO / "lists", tmp_path / "lists")
    shutil.copytree(REPO / "issues", tmp_path / "issues")
    return tmp_path


def import_sample(factory) -> int:
    """The shipped sample list (25 people, 21 confirmed) imported into a fresh database; its list
    id."""
    from mailer.audience.importing.importer import import_rows, read_csv
    from mailer.audience.lists import ensure_list
    from mailer.content.lists import load_list
    from mailer.store.db import transaction

    rows, problems = read_csv(REPO / "lists" / "ai-morning-post.sample.csv")
    with transaction(factory) as session:
        list_id = ensure_list(session, load_list(REPO / "lists", "ai-morning-post"))
    import_rows(factory, list_id, rows, problems, source="sample")
    return list_id


@pytest.fixture
def sample_list(factory) -> int:
    return import_sample(factory)


# The contrast tests' fixtures (tests/render/test_dark_mode.py, tests/web/test_dark_mode_pages.py):
# axe-core's source and a Chromium, one per module. A module with a `browser` of its own (the
# layout and the browser tests) overrides this one.
@pytest.fixture(scope="module")
def axe():
    return axe_source()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        chromium = launch(pw)
        yield chromium
        chromium.close()
