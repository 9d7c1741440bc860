"""The report tests (`mailer report --links/--json/--html`, the click reads, the trend) run on
SQLite and, when MAILER_TEST_DATABASE_URL is set, PostgreSQL: the shared `database_url` fixture of
tests/conftest.py, parametrised here for every test that uses the database."""

from __future__ import annotations

from tests.conftest import DB_KINDS


def pytest_generate_tests(metafunc):
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", DB_KINDS, indirect=True)
