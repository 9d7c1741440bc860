"""`mailer trending fetch` and `mailer issue new`, invoked through CliRunner with Settings as
ctx.obj."""

from __future__ import annotations

import datetime as dt

import click
import pytest
from click.testing import CliRunner

from mailer.cli import content as commands_trending
from mailer.config import Settings
from mailer.content import trending_fetch
from mailer.content.issue_file import load_issue
from mailer.content.lists import load_list
from mailer.content.snapshots import latest_snapshot, store_snapshot
from mailer.content.source_errors import RateLimitedError, SourceUnavailableError
from mailer.errors import MailerError
from mailer.render.issue import render_issue
from mailer.store.db import make_engine, session_factory, transaction, upgrade
from tests.content.conftest import NOW, ROOT, TODAY, WEEK_AGO

SOURCES = ("huggingface-models", "huggingface-datasets", "github")


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setattr(commands_trending, "today", lambda: TODAY)
    url = f"sqlite:///{tmp_path}/cli.db"
    upgrade(make_engine(url))
    return Settings(
        database_url=url,
        lists_dir=ROOT / "lists",
        outbox_dir=tmp_path / "var" / "outbox",
        issues_path=(tmp_path / "issues", ROOT / "issues"),
    )


@pytest.fixture
def cli():
    group = click.Group("mailer")
    group.add_command(commands_trending.trending)
    group.add_command(commands_trending.issue)
    return group


def run(cli, settings, *args):
    return CliRunner().invoke(cli, list(args), obj=settings)


def factory(settings):
    return session_factory(make_engine(settings.database_url))


@pytest.mark.vcr("hf_trending.yaml", "github_search.yaml")
def test_fetch_stores_snapshots_and_prints_what_came_in(vcr, cli, settings):
    result = run(cli, settings, "trending", "fetch")
    assert result.exit_code == 0, result.output
    assert vcr.play_count == 5  # models, datasets, three topic searches
    assert "huggingface-models 2026-11-22: 5 entries, fetched" in result.output
    assert "unsloth/Qwen3-4B-Instruct-2507-GGUF  text-generation" in result.output
    assert "huggingface/transformers" in result.output and "152,034 stars" in result.output
    with transaction(factory(settings)) as session:
        assert {s: len(latest_snapshot(session, s, TODAY).entries) for s in SOURCES} == {
            "huggingface-models": 5,
            "huggingface-datasets": 3,
            "github": 6,
        }
    again = run(cli, settings, "trending", "fetch")  # no request left in the cassette: none is made
    assert again.exit_code == 0 and again.output.count("already fetched today, kept") == 3


def failing_fetchers(*_args, **_kwargs):
    def unavailable():
        raise SourceUnavailableError(
            "huggingface-models", "no answer from huggingface.co within 15 s; check the network"
        )

    def limited():
        raise RateLimitedError(
            "github", "GitHub rate limit exhausted; it resets at 19:25 UTC (in 12 min)"
        )

    return {"huggingface-models": unavailable, "github": limited}


def test_failing_sources_fall_back_to_the_newest_snapshot(cli, settings, monkeypatch):
    monkeypatch.setattr(trending_fetch, "make_fetchers", failing_fetchers)
    with transaction(factory(settings)) as session:
        for source in ("huggingface-models", "github"):
            store_snapshot(session, source, TODAY - dt.timedelta(days=2), WEEK_AGO[source])
    result = run(cli, settings, "trending", "fetch")  # click 8.2+: output holds stdout and stderr
    assert result.exit_code == 0
    assert (
        "huggingface-models: FAILED huggingface-models: no answer from huggingface.co"
        in result.output
    )
    assert "github: issues will use the snapshot of 2026-11-20" in result.output
    strict = run(cli, settings, "trending", "fetch", "--require-fresh")
    assert strict.exit_code == 1 and isinstance(strict.exception, MailerError)
    assert "2 of 2 source(s) failed (--require-fresh)" in str(strict.exception)


def test_failing_source_without_any_snapshot_is_an_error(cli, settings, monkeypatch):
    monkeypatch.setattr(trending_fetch, "make_fetchers", failing_fetchers)
    result = run(cli, settings, "trending", "fetch")
    assert result.exit_code == 1
    assert "no earlier snapshot to fall back on" in str(result.exception)


def seed_weeks(settings):
    with transaction(factory(settings)) as session:
        for day, weeks in ((TODAY - dt.timedelta(days=7), WEEK_AGO), (TODAY, NOW)):
            for source, entries in weeks.items():
                store_snapshot(session, source, day, entries)


def test_issue_new_scaffolds_prompts_and_trending(cli, settings, tmp_path):
    seed_weeks(settings)
    result = run(
        cli,
        settings,
        "issue",
        "new",
        "--date",
        "2026-11-23",
        "--from",
        "latest",
        "--out",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / "out" / "ai-morning-post" / "2026-11-23.md"
    assert f"wrote {path}" in result.output and "trending data is as of 2026-11-22" in result.output
    issue = load_issue(path)
    latest = load_issue(ROOT / "issues" / "ai-morning-post" / "2026-11-22.md")
    assert issue.headline == "TODO: headline" and issue.lead[0].startswith("TODO:")
    assert issue.deep_dive.title.startswith("TODO:") and len(issue.opinions) == len(latest.opinions)
    assert (issue.metrics, issue.tools, issue.trending, issue.cta) == (
        latest.metrics,
        latest.tools,
        latest.trending,
        latest.cta,
    )
    assert issue.trending_as_of == TODAY
    assert [m.id for m in issue.hf_models][:2] == ["a/alpha", "b/beta"] and issue.hf_models[
        -1
    ].kind == "dataset"
    assert [r.name for r in issue.github_repos] == ["o/big", "o/mid", "o/fresh", "o/small"]
    assert [(m.name, m.gain) for m in issue.mover_items][:2] == [("o/big", 900), ("b/beta", 400)]
    assert issue.figures[0].label == "of the top 4 trending models are text-generation"
    rendered = render_issue(
        issue, load_list(ROOT / "lists", "ai-morning-post"), "https://aimorningpost.example"
    )
    assert "Trending data as of 2026-11-22" in rendered.text and "o/fresh" in rendered.html


def test_issue_new_refuses_to_overwrite_without_force(cli, settings, tmp_path):
    args = ["issue", "new", "--date", "2026-11-23", "--from", "none", "--out", str(tmp_path)]
    assert run(cli, settings, *args).exit_code == 0
    path = tmp_path / "ai-morning-post" / "2026-11-23.md"
    path.write_text(path.read_text().replace("TODO: headline", "Edited headline"))
    second = run(cli, settings, *args)
    assert second.exit_code == 1 and "already exists; edit it, or pass --force" in str(
        second.exception
    )
    assert "Edited headline" in path.read_text()
    assert run(cli, settings, *args, "--force").exit_code == 0
    assert load_issue(path).headline == "TODO: headline"


def test_issue_new_without_snapshots_leaves_trending_empty_or_refuses(cli, settings, tmp_path):
    result = run(
        cli, settings, "issue", "new", "--date", "today", "--out", str(tmp_path), "--copy-text"
    )
    assert result.exit_code == 0, result.output
    assert "no snapshot yet (run `mailer trending fetch`)" in result.output
    issue = load_issue(tmp_path / "ai-morning-post" / "2026-11-22.md")
    latest = load_issue(ROOT / "issues" / "ai-morning-post" / "2026-11-22.md")
    assert issue.lead == latest.lead and issue.github_repos == () and issue.hf_models == ()
    strict = run(
        cli,
        settings,
        "issue",
        "new",
        "--date",
        "today",
        "--out",
        str(tmp_path / "x"),
        "--require-fresh",
    )
    assert strict.exit_code == 1 and "run `mailer trending fetch`" in str(strict.exception)


def test_issue_new_writes_into_the_first_issues_path_by_default(cli, settings):
    result = run(cli, settings, "issue", "new", "--date", "2026-11-24", "--from", "2026-11-20")
    assert result.exit_code == 0, result.output
    assert (settings.issues_path[0] / "ai-morning-post" / "2026-11-24.md").exists()


def test_issue_new_that_fails_leaves_no_out_folder_behind(cli, settings, tmp_path):
    """A --from issue that does not exist stops the command before anything is created."""
    out = tmp_path / "new-folder"
    args = ["issue", "new", "--date", "2026-11-23", "--from", "2030-01-01", "--out", str(out)]
    result = run(cli, settings, *args)
    assert result.exit_code == 1 and "no issue file for 2030-01-01" in str(result.exception)
    assert not out.exists()
