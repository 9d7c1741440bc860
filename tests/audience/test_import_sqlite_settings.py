"""The import's SQLite connection tuning (page cache, checkpoints) ends with the import. SQLite
only:
PostgreSQL imports change no connection settings. Uses the SQLite `database_url` default."""

from __future__ import annotations

from tests.audience.test_import_fast import _import, _list


def test_import_settings_do_not_outlive_the_import(engine, factory, tmp_path):
    with engine.connect() as conn:
        before = [
            conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("cache_size", "wal_autocheckpoint")
        ]
    path = tmp_path / "people.csv"
    path.write_text("email\na@example.com\n", encoding="utf-8")
    _import(factory, _list(factory), path)
    assert engine.pool.checkedout() == 0
    with engine.connect() as conn:
        after = [
            conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("cache_size", "wal_autocheckpoint")
        ]
    assert after == before
