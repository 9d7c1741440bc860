"""Where an import's time goes: microseconds per row for each stage, run one after the other in one
process on SQLite (the same generated file as bench/import.py), then the real pipelined import with
the
time the writer spent waiting for the reader. Usage: python bench/import_stages.py [--rows 1000000]

Each stage shows CPU time (this process's) next to wall-clock time: on a shared machine the CPU time
is
the steadier measure of what a change saves; the wall-clock time adds waiting for the CPU and the
disk.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pickle
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.audience.importing import batch as batch_module  # noqa: E402
from mailer.audience.importing import importer as subscribers  # noqa: E402
from mailer.audience.importing.prep import known_salt, prepare  # noqa: E402
from mailer.audience.importing.tuning import import_connection  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "bench_import", Path(__file__).with_name("import.py")
)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

TIMES: dict[str, list[float]] = {}


def clock() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def add(label: str, start: tuple[float, float], sign: int = 1) -> None:
    cpu, wall = clock()
    total = TIMES.setdefault(label, [0.0, 0.0])
    total[0] += sign * (cpu - start[0])
    total[1] += sign * (wall - start[1])


def timed(module, name: str, label: str) -> None:
    """Wrap module.name so that its time adds up under label."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        start = clock()
        try:
            return original(*args, **kwargs)
        finally:
            add(label, start)

    setattr(module, name, wrapper)


def stages(csv_path: Path, folder: Path, rows: int) -> None:
    engine, factory, list_id, _ = bench.fresh_database("sqlite", folder)
    with factory() as session:
        salt = known_salt(session)
    problems: list[str] = []
    start = clock()
    parsed = list(subscribers.iter_csv(csv_path, problems))
    add("read CSV, validate, clean names", start)
    start = clock()
    merged = list(subscribers._merged_batches(parsed, problems, subscribers.BATCH_SIZE))
    add("merge duplicates", start)
    start = clock()
    prepared = [prepare(batch, salt) for batch in merged]
    add("sort, hash, pack codes", start)
    start = clock()
    prepared = [pickle.loads(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)) for batch in prepared]
    add("pickle to the writer and back", start)
    timed(batch_module, "_blocked", "write: suppression check")
    timed(batch_module, "sqlite_subscriber_ids", "write: subscribers (executemany)")
    timed(batch_module, "insert_new_people", "write: subscriptions + consent (set-wise)")
    start = clock()
    with import_connection(factory) as batch_session:
        for batch in prepared:
            with batch_session() as session:
                begin = clock()
                batch_module.import_batch(session, list_id, batch, csv_path.name, problems)
                add("write: all of import_batch", begin)
                commit = clock()
            add("write: commit", commit)
    add("write: total with final checkpoint", start)
    engine.dispose()
    print(f"{'stage':<44} {'CPU':>6}    {'wall':>6}")
    for label, (cpu, wall) in TIMES.items():
        print(f"{label:<44} {cpu / rows * 1e6:6.2f}    {wall / rows * 1e6:6.2f} us/row")


def pipelined(csv_path: Path, folder: Path, rows: int) -> None:
    engine, factory, list_id, _ = bench.fresh_database("sqlite", folder)
    waited = 0.0
    original = subscribers.in_process

    def waiting(*args, **kwargs):
        nonlocal waited
        items = original(*args, **kwargs)
        while True:
            start = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                waited += time.perf_counter() - start
            yield item

    subscribers.in_process = waiting
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu, start = clock()
    problems: list[str] = []
    subscribers.import_rows(
        factory, list_id, subscribers.iter_csv(csv_path, problems), problems, csv_path.name
    )
    cpu, seconds = (now - then for now, then in zip(clock(), (cpu, start), strict=True))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reader_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    subscribers.in_process = original
    engine.dispose()
    print(
        f"pipelined import: {seconds / rows * 1e6:.2f} us/row = {rows / seconds:,.0f} rows/s; the "
        "writer "
        f"waited for the reader {waited / rows * 1e6:.2f} us/row; CPU: writer "
        f"{cpu / rows * 1e6:.2f}, "
        f"reader process {reader_cpu / rows * 1e6:.2f} us/row"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path = folder / "subscribers.csv"
        bench.write_csv(csv_path, args.rows)
        print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
        stages(csv_path, folder, args.rows)
        pipelined(csv_path, folder, args.rows)
        print(f"load average now: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
