"""`make demo` works on any date: on a day without a shipped issue it scaffolds one under var/demo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .conftest import REPO


def test_demo_on_a_day_without_an_issue(tmp_path):
    for folder in ("scripts", "issues", "lists"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"}
    env["MAILER_DEMO_DATE"] = "2027-03-09"
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run([sys.executable, "scripts/demo.py"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    scaffolded = tmp_path / "var/demo/issues/ai-morning-post/2027-03-09.md"
    assert "date: 2027-03-09" in scaffolded.read_text()
    assert sorted(p.name for p in (tmp_path / "issues/ai-morning-post").iterdir()) == \
        sorted(p.name for p in (REPO / "issues/ai-morning-post").iterdir())  # issues/ untouched
    assert len(list((tmp_path / "var/demo/outbox/ai-morning-post/2027-03-09").glob("*.eml"))) == 21
    assert (tmp_path / "var/demo/preview/ai-morning-post-2027-03-09.html").exists()
    assert "messages: var/demo/outbox/ai-morning-post/2027-03-09/*.eml" in result.stdout
