"""What bench/web.py and bench/redirect.py share: their common options, a fresh database (a SQLite
file, or a private schema on a PostgreSQL), gunicorn as deploy/mailer-web.service runs it (started
by tests/web/servers.py), the load generator run in a process of its own (bench/web_load.py and
bench/redirect_load.py, on bench/load.py), and the phrases of their tables.

Importing locust monkey-patches the standard library for gevent, which is why the load runs in
another process and nothing here imports bench/load.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import REPO, private_schema
from tests.web.servers import gunicorn_command, start

LOG = "gunicorn.log"


def parser(doc: str, seconds: float) -> argparse.ArgumentParser:
    """The options of both benches (a bench adds its own), `seconds` the default of --seconds."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=seconds, help="measured seconds a URL")
    parser.add_argument("--rounds", type=int, default=4, help="slices of them, with /healthz")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds a URL")
    parser.add_argument("--users", type=int, default=16, help="keep-alive clients (16 = 2 x 8)")
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: SQLite in a tmp dir)")
    parser.add_argument("--max-requests", type=int, default=0, help="gunicorn --max-requests")
    return parser


def require_locust() -> None:
    if importlib.util.find_spec("locust") is None:
        raise SystemExit("locust is not installed: run `make install` (the bench extra)")


@contextmanager
def database(url: str | None, folder: Path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file in `folder`, or a schema of its own on the
    PostgreSQL at `url`, dropped at the end."""
    if url is None:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    with private_schema(url, "bench_") as schema_url:
        yield schema_url


def start_gunicorn(database_url: str, port: int, folder: Path, max_requests: int, **env: str):
    """gunicorn on `port` with the flags of deploy/mailer-web.service, but for --max-requests (off
    unless asked: worker start-ups and empty caches would go into the rates) and the access log
    (the journal's cost, not the app's); its output in `folder`/gunicorn.log, `env` added to its
    environment. (process, URL) once it answers /healthz."""
    flags = ("--max-requests", str(max_requests)) if max_requests else ()
    command = gunicorn_command(port, *flags)
    try:
        return start("gunicorn", command, database_url, port, folder, folder / LOG, **env)
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def read_log(folder: Path) -> str:
    """The end of gunicorn's output."""
    return (folder / LOG).read_text(errors="replace")[-2000:]


def served(args: argparse.Namespace) -> str:
    """What serves the bench, for its first line."""
    kind = "PostgreSQL" if args.database_url else "SQLite"
    return (
        f"gunicorn (2 gthread workers x 8 threads, --max-requests {args.max_requests or 'off'}), "
        f"{kind}"
    )


def machine() -> str:
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"


def drive(script: str, url: str, args: argparse.Namespace, *more: str) -> list[dict]:
    """The JSON lines that bench/`script` prints: the load at `url` with the options' seconds,
    rounds, warm-up and users, and the script's own arguments `more`."""
    command = [sys.executable, str(REPO / "bench" / script), url]
    command += [str(args.seconds), str(args.rounds), str(args.warmup), str(args.users), *more]
    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"bench/{script} failed: {out.stderr.strip()[-2000:]}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def problems(run: dict, ok: str = "200") -> str:
    """Every answer that was not `ok`, and every connection error, in one phrase."""
    parts = [f"{v} x HTTP {k}" for k, v in run["statuses"].items() if k != ok]
    parts += [f"{v} x {k}" for k, v in run["errors"].items()]
    return ", ".join(parts) if parts else "no errors"
