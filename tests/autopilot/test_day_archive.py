"""The autopilot rebuilds the static archive after the send when the list sets [archive]
static_dir; a folder it must not replace is alerted and the day goes on."""

from __future__ import annotations

import shutil

import pytest

from tests.autopilot.day_harness import CONFIRMED, SLUG, Operator, events_queue, scheduled_list
from tests.conftest import REPO

DAY = "2026-03-29"  # 06:30 Europe/London is 05:30 UTC
ARCHIVE = '\n[archive]\nstatic_dir = "site"\npublic_url = "https://archive.example.com"\n'


@pytest.fixture
def operator(tmp_path, engine, database_url, factory, moto_url) -> Operator:
    shutil.copytree(REPO / "lists", tmp_path / "lists")
    shutil.copytree(REPO / "issues", tmp_path / "issues")
    (tmp_path / "lists" / f"{SLUG}.toml").write_text(scheduled_list(canary=0) + ARCHIVE)
    op = Operator(tmp_path, database_url, factory, moto_url, events_queue(moto_url))
    imported = op.mailer("subscribers", "import", f"lists/{SLUG}.sample.csv", "--list", SLUG)
    assert imported.returncode == 0, imported.stderr
    op.write_issue(DAY, "Specialised models take the board")
    return op


def test_the_site_is_rebuilt_with_the_issue_just_sent(operator):
    op = operator
    sent = op.autopilot("2026-03-29T05:30:00Z")
    assert op.states() == {"sent": CONFIRMED}
    assert "static archive rebuilt: site: 1 issue(s)" in sent.stdout
    page = op.workdir / "site" / DAY / "index.html"
    assert page.is_file() and "https://archive.example.com/2026-03-29/" in page.read_text()
    assert (op.workdir / "site" / DAY / "card.png").is_file()
    assert op.stage(DAY) == "summary"


def test_a_folder_that_is_not_an_earlier_build_is_alerted_and_kept(operator):
    op = operator
    (op.workdir / "site").mkdir()
    (op.workdir / "site" / "notes.txt").write_text("the operator's own file")
    sent = op.autopilot("2026-03-29T05:30:00Z")
    assert op.states() == {"sent": CONFIRMED}
    assert "archive, alerted: the static archive was not rebuilt" in sent.stdout
    assert "holds other files" in op.alerts()[-1].get_content()
    assert (op.workdir / "site" / "notes.txt").read_text() == "the operator's own file"
    assert op.stage(DAY) == "summary"  # the day goes on: the summary is still due
