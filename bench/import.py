"""Subscriber import speed: rows per second of `mailer subscribers import` on SQLite (and PostgreSQL
when
MAILER_TEST_DATABASE_URL or MAILER_BENCH_DATABASE_URL is set), against a row-by-row ORM insert
measured
in the same run. Usage: python bench/import.py [--rows 1000000] [--baseline-rows 20000]

The baseline (one ORM object per subscriber, subscription and consent event, one flush per row) is
timed on a smaller sample because at its speed a million rows would take many minutes; its rate is
rows per second all the same. 1,000 suppressed addresses (none in the file) make every row go
through
the suppression check, as in production.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

SUPPRESSED = 1000
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from mailer.addresses import normalise_email  # noqa: E402
from mailer.audience.importing.importer import import_rows, iter_csv  # noqa: E402
from mailer.audience.lists import ensure_list  # noqa: E402
from mailer.audience.suppressions import suppress  # noqa: E402
from mailer.content.lists import load_list  # noqa: E402
from mailer.store.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from mailer.store.models import ConsentEvent, Subscriber, Subscription, utcnow  # noqa: E402


def write_csv(path: Path, rows: int) -> None:
    rnd = random.Random(4)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("email,name,status\n")
        for i in range(rows):
            fh.write(
                f"reader.{i}.{rnd.randrange(10**6)}@mail{i % 997}.example.com,Reader "
                f"{i},confirmed\n"
            )


def fresh_database(kind: str, folder: Path):
    if kind == "sqlite":
        url, cleanup = f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.db'}", None
    else:
        base = os.environ.get("MAILER_BENCH_DATABASE_URL") or os.environ["MAILER_TEST_DATABASE_URL"]
        base = base.replace("postgresql://", "postgresql+psycopg://", 1)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"

        def cleanup():
            with admin.connect() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()

    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        list_id = ensure_list(session, load_list(ROOT / "lists", "ai-morning-post"))
        for i in range(SUPPRESSED):  # not in the file, but every row is then checked against them
            suppress(session, f"bounced.{i}@mail.example.org", "hard-bounce")
    return engine, factory, list_id, cleanup


def timed_import(factory, list_id: int, csv_path: Path) -> tuple[float, str]:
    start = time.perf_counter()
    problems: list[str] = []
    report = import_rows(
        factory, list_id, iter_csv(csv_path, problems), problems, source=csv_path.name
    )
    return time.perf_counter() - start, report.summary


def timed_baseline(factory, list_id: int, csv_path: Path, rows: int) -> float:
    """Row by row through the ORM, validated with the same normaliser, committed every 2,000
    rows."""
    start = time.perf_counter()
    session = factory()
    with csv_path.open(encoding="utf-8") as fh:
        next(fh)
        for n, line in enumerate(fh):
            if n >= rows:
                break
            email, name, status = line.rstrip("\n").split(",")
            sub = Subscriber(email=normalise_email(email), name=name)
            session.add(sub)
            session.flush()
            session.add(
                Subscription(
                    subscriber_id=sub.id, list_id=list_id, status=status, confirmed_at=utcnow()
                )
            )
            session.add(
                ConsentEvent(
                    subscriber_id=sub.id,
                    list_id=list_id,
                    action="import",
                    source="import",
                    detail=f"baseline line {n + 2}",
                )
            )
            session.flush()
            if n % 2000 == 1999:
                session.commit()
    session.commit()
    session.close()
    return time.perf_counter() - start


def run(kind: str, csv_path: Path, rows: int, baseline_rows: int, folder: Path) -> None:
    engine, factory, list_id, cleanup = fresh_database(kind, folder)
    try:
        seconds, summary = timed_import(factory, list_id, csv_path)
        again, again_summary = timed_import(factory, list_id, csv_path)
    finally:
        engine.dispose()
        cleanup and cleanup()
    engine, factory, list_id, cleanup = fresh_database(kind, folder)
    try:
        base_seconds = timed_baseline(factory, list_id, csv_path, baseline_rows)
    finally:
        engine.dispose()
        cleanup and cleanup()
    rate, base_rate = rows / seconds, baseline_rows / base_seconds
    print(f"{kind:<10} import {rows:,} rows in {seconds:.1f} s = {rate:,.0f} rows/s ({summary})")
    print(
        f"{kind:<10} re-run   {rows:,} rows in {again:.1f} s = {rows / again:,.0f} rows/s "
        f"({again_summary})"
    )
    print(f"{kind:<10} baseline {baseline_rows:,} rows row-by-row ORM = {base_rate:,.0f} rows/s")
    print(f"{kind:<10} ratio: {rate / base_rate:.1f}x the row-by-row baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    args = parser.parse_args()
    kinds = ["sqlite"]
    if os.environ.get("MAILER_BENCH_DATABASE_URL") or os.environ.get("MAILER_TEST_DATABASE_URL"):
        kinds.append("postgresql")
    else:
        print("postgresql: skipped (set MAILER_TEST_DATABASE_URL or MAILER_BENCH_DATABASE_URL)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path = folder / "subscribers.csv"
        write_csv(csv_path, args.rows)
        print(
            f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}; {SUPPRESSED} "
            "suppressed addresses"
        )
        for kind in kinds:
            run(kind, csv_path, args.rows, min(args.baseline_rows, args.rows), folder)
            print(f"load average now: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
