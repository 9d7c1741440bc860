"""The prepare stage's trending fetch (mailer/autopilot/day.py) with the real snapshot store
(content.trending_fetch.fetch_and_store): a source that fails with an older snapshot to fall back on
does not block the issue; one with nothing to fall back on does, and the editors are alerted. The
sources are local functions: nothing here reaches Hugging Face or GitHub."""

from __future__ import annotations

import dataclasses
import datetime as dt

from mailer.autopilot.day import Autopilot
from mailer.autopilot.run import run_once
from mailer.content.snapshots import store_snapshot
from mailer.content.source_errors import SourceUnavailableError
from mailer.content.trending_fetch import fetch_and_store
from mailer.send.workers import worker_name
from mailer.store.db import transaction
from tests.autopilot.day_harness import FIXTURE, SLUG, issue_text
from tests.content.conftest import NOW

DAY = dt.date(2026, 11, 23)
AT = dt.datetime(2026, 11, 23, 5, 40, tzinfo=dt.UTC)  # 06:30 GMT is 06:30 UTC; prepare from 05:30


def github_down():
    raise SourceUnavailableError(
        "github", "cannot reach api.github.com (refused); check the network"
    )


def pilot_for(settings, factory, tmp_path) -> Autopilot:
    (tmp_path / "lists").mkdir()
    text = FIXTURE.read_text(encoding="utf-8").replace(
        ', "https://hooks.example/services/T0/B0"', ""
    )
    (tmp_path / "lists" / f"{SLUG}.toml").write_text(text, encoding="utf-8")
    issues = tmp_path / "issues" / SLUG
    issues.mkdir(parents=True)
    (issues / f"{DAY}.md").write_text(issue_text(DAY.isoformat(), "Models of the day"), "utf-8")
    settings = dataclasses.replace(
        settings, lists_dir=tmp_path / "lists", issues_path=(tmp_path / "issues",)
    )
    fetchers = {
        "huggingface-models": lambda: list(NOW["huggingface-models"]),
        "github": github_down,
    }
    return Autopilot(
        settings=settings,
        factory=factory,
        worker=worker_name(),
        clock=lambda: AT,
        fetch=lambda list_def, day: fetch_and_store(factory, fetchers, day),
    )


def alerts(settings) -> list[str]:
    folder = settings.outbox_dir / "alerts"
    return (
        sorted(p.read_text(encoding="utf-8") for p in folder.glob("*.eml"))
        if folder.exists()
        else []
    )


def test_a_failed_source_without_a_fallback_blocks_and_alerts(settings, factory, tmp_path):
    pilot = pilot_for(settings, factory, tmp_path)
    lines = run_once(pilot)
    assert len(lines) == 1 and "blocked, alerted: not ready for 06:30 Europe/London" in lines[0]
    assert "trending: 1 of 2 source(s) failed (no earlier snapshot to fall back on)" in lines[0]
    assert (
        len(alerts(pilot.settings)) == 1
        and "cannot reach api.github.com" in alerts(pilot.settings)[0]
    )


def test_a_failed_source_with_an_older_snapshot_falls_back(settings, factory, tmp_path):
    pilot = pilot_for(settings, factory, tmp_path)
    with transaction(factory) as session:
        store_snapshot(session, "github", DAY - dt.timedelta(days=1), list(NOW["github"]))
    lines = run_once(pilot)
    assert any("trending github failed, using the older snapshot" in line for line in lines)
    assert lines[-1] == f"{SLUG} {DAY}: ready; sends at 06:30 Europe/London"
    assert alerts(pilot.settings) == []
