"""Running `mailer` in a subprocess against the local SES endpoint."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO, SECRET
from tests.send.conftest import AWS_ENV


def mailer_env(database_url: str, endpoint: str, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MAILER_", "AWS_")) and k != "DATABASE_URL"
    }
    env.update(AWS_ENV)
    env.update(
        {
            "MAILER_SECRET_KEY": SECRET,
            "MAILER_BASE_URL": "https://news.example",
            "DATABASE_URL": database_url,
            "MAILER_TRANSPORT": "ses",
            "MAILER_SES_ENDPOINT_URL": endpoint,
            "MAILER_LISTS_DIR": str(REPO / "lists"),
            "MAILER_ISSUES_PATH": str(REPO / "issues"),
        }
    )
    env.update(extra)
    return env


def start(env: dict[str, str], *args: str, cwd=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mailer", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(env: dict[str, str], *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mailer", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _child(env: dict[str, str], args: tuple[str, ...]) -> None:
    os.environ.clear()
    os.environ.update(env)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    from mailer.cli import cli

    cli.main(args=list(args), prog_name="mailer")


def fork(env: dict[str, str], *args: str):
    """`mailer ARGS` in a forked child process: the same code path as the console script, without
    paying the import time again (the crash test starts and kills it 20 times)."""
    import multiprocessing

    proc = multiprocessing.get_context("fork").Process(target=_child, args=(env, args), daemon=True)
    proc.start()
    return proc
