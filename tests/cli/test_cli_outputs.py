"""Every command that writes somewhere the operator names (`--out`, `MAILER_OUTBOX`) says in one
line when it cannot write there, and leaves nothing half-done: the CLI in a subprocess, as an
operator runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SECRET

UNWRITABLE_FOLDER = (
    "/proc/mailer-cannot-be-here"  # no one, not even root, creates a folder in /proc
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """An operator's folder with the sample list imported, and a plain file where a folder could be
    asked for."""
    root = tmp_path_factory.mktemp("operator")
    shutil.copytree(REPO / "lists", root / "lists")
    shutil.copytree(REPO / "issues", root / "issues")
    (root / "notes.txt").write_text("a file, not a folder\n")
    assert mailer(root, "db", "upgrade").returncode == 0
    assert mailer(root, "subscribers", "import", "lists/ai-morning-post.sample.csv").returncode == 0
    return root


def mailer(workdir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"
    }
    environ.update({"MAILER_SECRET_KEY": SECRET, **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "mailer", *args],
        cwd=workdir,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("out", [UNWRITABLE_FOLDER, "notes.txt/preview"])
def test_preview_into_a_folder_that_cannot_be(workdir, out):
    line = one_line_error(mailer(workdir, "preview", "--issue", "latest", "--out", out))
    assert f"--out {out}" in line and "choose a folder" in line


@pytest.mark.parametrize("out", [f"{UNWRITABLE_FOLDER}/subs.csv", "notes.txt/subs.csv"])
def test_export_into_a_file_that_cannot_be(workdir, out):
    line = one_line_error(mailer(workdir, "subscribers", "export", "--out", out))
    assert f"--out {out}" in line and "cannot write" in line


@pytest.mark.parametrize("out", [UNWRITABLE_FOLDER, "notes.txt/issues"])
def test_issue_new_into_a_folder_that_cannot_be(workdir, out):
    line = one_line_error(mailer(workdir, "issue", "new", "--date", "2027-01-04", "--out", out))
    assert f"--out {out}" in line


def test_a_send_into_an_unwritable_outbox_pauses_and_fails_no_one(workdir):
    result = mailer(
        workdir, "send", "--issue", "latest", "--yes", env={"MAILER_OUTBOX": UNWRITABLE_FOLDER}
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "MAILER_OUTBOX" in result.stdout + result.stderr
    status = mailer(workdir, "status", "--issue", "latest")
    assert "failed" not in status.stdout, status.stdout
    assert "paused" in status.stdout
    fixed = mailer(
        workdir,
        "send",
        "--issue",
        "latest",
        "--yes",
        env={"MAILER_OUTBOX": str(workdir / "outbox")},
    )
    assert fixed.returncode == 0, fixed.stderr
    assert len(list((workdir / "outbox").rglob("*.eml"))) == 21
