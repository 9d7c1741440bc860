"""The web app's two real servers as subprocesses on a free loopback port: gunicorn as
deploy/mailer-web.service runs it, and `mailer serve`; each returned once /healthz answers 200.
Used by tests/web/ and by bench/web.py and bench/redirect.py (through bench/harness.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import REPO, SECRET

APP = "mailer.web:create_app()"
START_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(port: int, *flags: str, app: str = APP) -> list[str]:
    """The flags of deploy/mailer-web.service but for --max-requests (none here) and the access
    log; `flags` come after them (a later flag wins)."""
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2"]
    command += ["--threads", "8", "--worker-class", "gthread", "--timeout", "60"]
    command += ["--graceful-timeout", "30", "--log-level", "warning"]
    return [*command, *flags, app]


def server_env(database_url: str, port: int, folder: Path, **more: str) -> dict[str, str]:
    """This process's environment without any MAILER_ setting or DATABASE_URL of its own, then the
    server's: the database, the test key, the repository's lists, its own base URL and outbox;
    `more` on top (e.g. MAILER_TRUSTED_PROXIES)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"
    }
    env.update(
        DATABASE_URL=database_url,
        MAILER_SECRET_KEY=SECRET,
        MAILER_LISTS_DIR=str(REPO / "lists"),
        MAILER_BASE_URL=f"http://127.0.0.1:{port}",
        MAILER_OUTBOX=str(folder / "outbox"),
        **more,
    )
    return env


def start(
    name: str,
    command: list[str],
    database_url: str,
    port: int,
    folder: Path,
    log: Path | None = None,
    **more: str,
):
    """`command` (a server of the app on `port`) run in `folder` with server_env's environment;
    (process, URL) once /healthz answers 200. Its output goes to a pipe, or to the file `log` for
    a long run (a pipe nobody reads fills up and stalls the server). RuntimeError naming `name`
    when it exits first (with the end of its output) or does not answer within a minute."""
    output = subprocess.PIPE if log is None else log.open("wb")
    proc = subprocess.Popen(
        command,
        cwd=folder,
        env=server_env(database_url, port, folder, **more),
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    if log is not None:
        output.close()  # the server has its own copy
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            said = proc.stdout.read().decode() if log is None else log.read_text(errors="replace")
            raise RuntimeError(f"{name} exited: {said[-2000:]}")
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{name} did not answer /healthz within {START_SECONDS} s")


def start_gunicorn(database_url, tmp_path, app_spec: str = APP, extra: tuple[str, ...] = ()):
    """gunicorn as deploy/mailer-web.service runs it (2 gthread workers, each restarting after
    1,000 requests); `extra` flags override (a later flag wins). (process, URL)."""
    port = free_port()
    command = gunicorn_command(port, "--max-requests", "1000", *extra, app=app_spec)
    return start("gunicorn", command, database_url, port, tmp_path)


def start_mailer_serve(database_url, tmp_path):
    """`mailer serve` on a free port; (process, URL)."""
    port = free_port()
    command = [sys.executable, "-m", "mailer", "serve", "--port", str(port)]
    return start("mailer serve", command, database_url, port, tmp_path)


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
