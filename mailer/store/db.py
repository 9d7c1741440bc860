"""Engine, sessions and schema upgrades (Alembic, from the migrations shipped in the package)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailer.errors import ConfigError, MailerError

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers (status, web) run while a send writes; busy_timeout waits for the writer
    # instead of failing with "database is locked".
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"DATABASE_URL {url!r} is not usable ({exc}); use sqlite:///path.db or postgresql://user@host/db"
        ) from exc


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed on success, rolled back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), revision)
    except OperationalError as exc:
        raise MailerError(f"database upgrade failed on {engine.url!r}: {exc.orig}") from exc


def require_schema(engine: Engine) -> None:
    """Fail with the fix instead of 'no such table' when `mailer db upgrade` was not run."""
    try:
        tables = set(inspect(engine).get_table_names())
    except OperationalError as exc:
        raise ConfigError(
            f"cannot open database {engine.url!r}: {exc.orig}; check DATABASE_URL"
        ) from exc
    if "deliveries" not in tables:
        raise ConfigError(
            f"database {engine.url!r} has no schema yet; run `mailer db upgrade` first"
        )
    current, head = schema_revisions(engine)
    if current != head:
        raise ConfigError(
            f"database {engine.url!r} is at schema revision {current or 'none'}, this version of "
            f"mailer needs {head}; run `mailer db upgrade` first"
        )


def schema_revisions(engine: Engine) -> tuple[str | None, str]:
    """(the database's Alembic revision, the newest one shipped with this package)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, head
