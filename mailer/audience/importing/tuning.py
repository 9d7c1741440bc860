"""One database connection for a whole import, tuned for bulk writes while the import runs (SQLite).

The settings are per connection and restored before it goes back to the pool, so nothing else (the
web app, a send) runs with them. None of them weakens durability: the database stays in WAL mode
with synchronous=NORMAL, where a crash loses at most the last commits, never the file's consistency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

SQLITE_IMPORT_PRAGMAS = {
    # A million addresses in the unique index on subscribers.email need more than the default 2 MB
    # of
    # page cache to stay off the disk.
    "cache_size": -256 * 1024,
    # Sorting and IN (...) lists build temporary B-trees: in memory, not in a temporary file.
    "temp_store": 2,
    # Checkpoint (copy the WAL into the database file) every ~40 MB instead of every ~4 MB: pages of
    # the
    # email index that every batch touches are then copied once per checkpoint, not once per batch.
    "wal_autocheckpoint": 10_000,
}


def _tune(conn: Connection) -> dict[str, int]:
    before = {
        name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in SQLITE_IMPORT_PRAGMAS
    }
    for name, value in SQLITE_IMPORT_PRAGMAS.items():
        conn.exec_driver_sql(f"PRAGMA {name} = {int(value)}")
    conn.commit()
    return before


def _restore(conn: Connection, before: dict[str, int]) -> None:
    if conn.in_transaction():
        conn.rollback()
    conn.exec_driver_sql(
        "PRAGMA wal_checkpoint(PASSIVE)"
    )  # leave the WAL as short as a normal write would
    for name, value in before.items():
        conn.exec_driver_sql(f"PRAGMA {name} = {int(value)}")
    conn.commit()


@contextmanager
def import_connection(
    factory: sessionmaker[Session], dry_run: bool = False
) -> Iterator[Callable[[], AbstractContextManager[Session]]]:
    """Yields batch(): `with batch() as session:` is one transaction on the import's connection,
    committed when the block ends and rolled back if it raises. With `dry_run` every batch runs in
    one transaction that is rolled back at the end (later batches see the earlier ones' rows, as
    in a real import), so nothing is changed."""
    engine = factory.kw["bind"]
    with engine.connect() as conn:
        before = _tune(conn) if conn.dialect.name == "sqlite" and not dry_run else None
        outer = conn.begin() if dry_run else None

        @contextmanager
        def batch() -> Iterator[Session]:
            # Commits on success, rolls back on any error. In a dry run no savepoint: with SQLite's
            # driver a first SAVEPOINT opens the transaction, and its RELEASE would commit it.
            with nullcontext() if outer is not None else conn.begin():
                # The session joins the connection's transaction and never ends it itself.
                session = factory(bind=conn)
                try:
                    yield session
                finally:
                    session.close()

        try:
            yield batch
        finally:
            if outer is not None:
                outer.rollback()
            if before is not None:
                _restore(conn, before)
