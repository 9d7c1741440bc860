"""Snapshots, movers and figures from two hand-made weeks with known answers, and
attach_trending."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from mailer.content.issue_file import load_issue
from mailer.content.model import Figure, Mover, TrendingModel, TrendingRepo
from mailer.content.snapshots import latest_snapshot, snapshot_on, store_snapshot, week_before
from mailer.content.source_errors import StaleTrendingError
from mailer.content.trending import attach_trending, compute_figures, movers_for
from mailer.store.db import transaction
from tests.content.conftest import NOW, ROOT, TODAY, WEEK_AGO, model

WEEK_AGO_DAY = TODAY - dt.timedelta(days=7)
SEEDS = sorted((ROOT / "issues" / "ai-morning-post").glob("*.md"))
EXPECTED_MOVERS = (
    Mover("o/big", "github", 900, "stars", "https://github.com/o/big"),
    Mover("b/beta", "huggingface", 400, "likes", "https://huggingface.co/b/beta"),
    Mover("o/mid", "github", 150, "stars", "https://github.com/o/mid"),
    Mover("a/alpha", "huggingface", 60, "likes", "https://huggingface.co/a/alpha"),
    Mover("datasets/d/data", "huggingface", 30, "likes", "https://huggingface.co/datasets/d/data"),
)
EXPECTED_FIGURES = [
    Figure("2", "of the top 4 trending models are text-generation"),
    Figure("67%", "of trending models with a known size are under 4B parameters"),
    Figure("50%", "of trending models ship GGUF weights"),
    Figure("1", "trending GitHub repository created this week"),
]


def store_weeks(factory, weeks=((WEEK_AGO_DAY, WEEK_AGO), (TODAY, NOW))):
    with transaction(factory) as session:
        for day, sources in weeks:
            for source, entries in sources.items():
                store_snapshot(session, source, day, entries)


def test_store_is_write_once_unless_replaced(factory):
    with transaction(factory) as session:
        first, wrote = store_snapshot(session, "github", TODAY, [{"name": "o/a", "stars": 1}])
        assert wrote
        kept, wrote_again = store_snapshot(session, "github", TODAY, [{"name": "o/b", "stars": 2}])
        assert not wrote_again and kept.entries == first.entries
    with transaction(factory) as session:
        replaced, wrote = store_snapshot(
            session, "github", TODAY, [{"name": "o/b", "stars": 2}], replace=True
        )
        assert wrote and replaced.entries == ({"name": "o/b", "stars": 2},)
    with transaction(factory) as session:
        assert snapshot_on(session, "github", TODAY).entries == ({"name": "o/b", "stars": 2},)


def test_latest_and_week_before(factory):
    store_weeks(
        factory, ((WEEK_AGO_DAY, WEEK_AGO), (TODAY - dt.timedelta(days=3), WEEK_AGO), (TODAY, NOW))
    )
    with transaction(factory) as session:
        assert latest_snapshot(session, "github", TODAY).taken_on == TODAY
        assert latest_snapshot(
            session, "github", TODAY - dt.timedelta(days=1)
        ).taken_on == TODAY - dt.timedelta(days=3)
        assert latest_snapshot(session, "github", WEEK_AGO_DAY - dt.timedelta(days=1)) is None
        # three days back is not a week: movers compare with the snapshot at least seven days older
        assert (
            week_before(session, latest_snapshot(session, "github", TODAY)).taken_on == WEEK_AGO_DAY
        )


def test_movers_from_two_weeks(factory):
    store_weeks(factory)
    with transaction(factory) as session:
        snaps = {s: latest_snapshot(session, s, TODAY) for s in NOW}
        assert movers_for(session, snaps, 5) == EXPECTED_MOVERS
        assert movers_for(session, snaps, 2) == EXPECTED_MOVERS[:2]


def test_no_movers_without_a_week_of_history(factory):
    store_weeks(factory, ((TODAY - dt.timedelta(days=6), WEEK_AGO), (TODAY, NOW)))
    with transaction(factory) as session:
        assert movers_for(session, {s: latest_snapshot(session, s, TODAY) for s in NOW}, 5) == ()


def test_figures_from_a_snapshot(sqlite_factory):
    store_weeks(sqlite_factory)
    with transaction(sqlite_factory) as session:
        assert (
            compute_figures({s: latest_snapshot(session, s, TODAY) for s in NOW})
            == EXPECTED_FIGURES
        )


def test_no_new_repositories_is_no_figure(sqlite_factory):
    old = [{**entry, "created_at": "2026-01-01T00:00:00Z"} for entry in NOW["github"]]
    store_weeks(sqlite_factory, ((TODAY, {"github": old}),))
    with transaction(sqlite_factory) as session:
        assert compute_figures({"github": latest_snapshot(session, "github", TODAY)}) == []


def test_figures_without_sizes_skip_the_size_share(sqlite_factory):
    store_weeks(
        sqlite_factory,
        ((TODAY, {"huggingface-models": [model("a/a", 1), model("b/b", 2, task="")]}),),
    )
    with transaction(sqlite_factory) as session:
        assert compute_figures(
            {"huggingface-models": latest_snapshot(session, "huggingface-models", TODAY)}
        ) == [
            Figure("1", "of the top 2 trending models are text-generation"),
            Figure("0%", "of trending models ship GGUF weights"),
        ]


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.stem)
def test_seed_issues_are_unchanged_without_snapshots(sqlite_factory, list_def, seed):
    issue = load_issue(seed)
    with transaction(sqlite_factory) as session:
        assert attach_trending(issue, session, list_def, TODAY) == issue


def test_attach_fills_only_empty_sections_and_keeps_editor_entries(factory, list_def):
    store_weeks(factory)
    issue = load_issue(
        ROOT / "issues" / "ai-morning-post" / "2026-11-22.md"
    )  # GitHub section hand-written
    with transaction(factory) as session:
        out = attach_trending(issue, session, list_def, TODAY)
    assert out.github_repos == issue.github_repos
    assert out.hf_models == (
        TrendingModel("a/alpha", "text-generation", "model", 160, 100),
        TrendingModel("b/beta", "text-generation", "model", 450, 100),
        TrendingModel("n/newcomer", "text-to-image", "model", 900, 100),
        TrendingModel("c/gamma", "automatic-speech-recognition", "model", 8, 100),
        TrendingModel("d/data", "text-generation", "dataset", 35, 10),
        TrendingModel("e/fresh", "text-generation", "dataset", 70, 10),
    )
    assert out.mover_items == EXPECTED_MOVERS
    assert list(out.figures) == EXPECTED_FIGURES
    assert out.trending_as_of is None  # the data is from the issue date itself
    assert replace(out, hf_models=(), mover_items=(), figures=()) == issue


def test_editor_figures_come_first_and_duplicates_are_not_added(sqlite_factory, list_def):
    store_weeks(sqlite_factory)
    issue = replace(
        load_issue(SEEDS[-1]), figures=(Figure("42", "models I counted"), EXPECTED_FIGURES[2])
    )
    with transaction(sqlite_factory) as session:
        out = attach_trending(issue, session, list_def, TODAY)
    assert out.figures == (
        issue.figures[0],
        EXPECTED_FIGURES[2],
        EXPECTED_FIGURES[0],
        EXPECTED_FIGURES[1],
    )


def test_task_filter_and_counts_come_from_the_list(sqlite_factory, list_def):
    store_weeks(sqlite_factory)
    sources = dict(
        list_def.sources, huggingface={"models": 1, "datasets": 0, "tasks": ["text-to-image"]}
    )
    issue = replace(load_issue(SEEDS[-1]), github_repos=())
    with transaction(sqlite_factory) as session:
        out = attach_trending(issue, session, replace(list_def, sources=sources), TODAY)
    assert [m.id for m in out.hf_models] == ["n/newcomer"]
    assert [r.name for r in out.github_repos] == ["o/big", "o/mid", "o/fresh", "o/small"]
    assert out.github_repos[0] == TrendingRepo("o/big", "A repository", 10_900)


def test_stale_snapshot_is_shown_as_of_its_date_or_refused(sqlite_factory, list_def):
    store_weeks(sqlite_factory)
    issue = replace(load_issue(SEEDS[-1]), date=TODAY + dt.timedelta(days=2))
    with transaction(sqlite_factory) as session:
        out = attach_trending(issue, session, list_def, TODAY + dt.timedelta(days=2))
        assert out.trending_as_of == TODAY and out.hf_models
        with pytest.raises(
            StaleTrendingError, match=r"not from 2026-11-24: huggingface-models \(2026-11-22\)"
        ):
            attach_trending(
                issue, session, list_def, TODAY + dt.timedelta(days=2), require_fresh=True
            )
        # an issue dated ahead of today is fresh with today's data
        assert (
            attach_trending(issue, session, list_def, TODAY, require_fresh=True).trending_as_of
            == TODAY
        )


def test_pinned_as_of_reads_that_day_even_when_newer_data_exists(sqlite_factory, list_def):
    store_weeks(sqlite_factory)
    issue = replace(load_issue(SEEDS[-1]), trending_as_of=WEEK_AGO_DAY)
    with transaction(sqlite_factory) as session:
        out = attach_trending(issue, session, list_def, TODAY)
    assert [m.likes for m in out.hf_models if m.kind == "model"] == [100, 50, 10]
    assert out.trending_as_of == WEEK_AGO_DAY
    assert out.mover_items == ()  # nothing a week older than the pinned day
