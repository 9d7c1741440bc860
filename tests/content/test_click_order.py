"""`[analytics] order_by_clicks`: the rule of content/click_order.py on made-up rates, and `mailer
issue new --date today` run as an operator runs it (a subprocess) on a database holding earlier
sends with counted clicks (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

from mailer.content.click_order import order_by_click_rates
from mailer.content.issue_file import load_issue
from mailer.content.model import Item, TrendingModel, TrendingRepo
from mailer.content.scaffold import blank_issue
from mailer.content.snapshots import store_snapshot
from mailer.store.db import transaction
from tests.cli.test_cli import mailer
from tests.content.conftest import NOW
from tests.reports.clicks_data import LIST, add_clicks, add_links, deliver, tracked_send

HF = "https://huggingface.co/"
GH = "https://github.com/"


def issue_with(models=(), repos=(), reading=()):
    return replace(
        blank_issue(LIST, dt.date(2026, 12, 1)),
        hf_models=tuple(models),
        github_repos=tuple(repos),
        reading_items=tuple(reading),
    )


def test_seen_entries_are_sorted_among_their_places_and_new_ones_stay_put():
    repos = [TrendingRepo(name) for name in ("o/new", "o/low", "o/new2", "o/high", "o/mid")]
    rates = {GH + "o/low": 0.01, GH + "o/high": 0.3, GH + "o/mid": 0.3, GH + "o/gone": 0.9}
    ordered, order = order_by_click_rates(issue_with(repos=repos), rates)
    # places 2, 4, 5 held seen entries: now high, mid (equal rates keep their order), low
    assert [r.name for r in ordered.github_repos] == ["o/new", "o/high", "o/new2", "o/mid", "o/low"]
    github = order.sections[1]
    assert (github.section, github.seen) == ("github", 3)
    assert [(m.name, m.before, m.after) for m in github.moved] == [
        ("o/high", 4, 2),
        ("o/mid", 5, 4),
        ("o/low", 2, 5),
    ]
    assert github.line() == (
        "github: reordered o/high 30.00 % (4 -> 2), o/mid 30.00 % (5 -> 4), o/low 1.00 % (2 -> 5)"
    )


def test_models_and_datasets_keep_their_own_places_and_linkless_readings_stay():
    models = [
        TrendingModel("m/a"),
        TrendingModel("m/b"),
        TrendingModel("d/x", kind="dataset"),
        TrendingModel("d/y", kind="dataset"),
    ]
    reading = [Item("no link"), Item("A", url="https://a.example/"), Item("B", url="https://b/")]
    rates = {HF + "m/a": 0.1, HF + "datasets/d/y": 0.5, "https://b/": 0.2, "https://a.example/": 0}
    ordered, order = order_by_click_rates(issue_with(models=models, reading=reading), rates)
    # the dataset rated highest does not jump into a model's place; the one model seen has no
    # other seen model to trade places with
    assert [m.id for m in ordered.hf_models] == ["m/a", "m/b", "d/x", "d/y"]
    assert [i.title for i in ordered.reading_items] == ["no link", "B", "A"]
    assert order.lines() == [
        "huggingface: already in click order (2 seen before)",
        "github: no entry was in an earlier issue; order kept",
        "reading: reordered B 20.00 % (3 -> 2), A 0.00 % (2 -> 3)",
    ]


def test_no_rates_keep_every_order():
    repos = [TrendingRepo("o/b"), TrendingRepo("o/a")]
    ordered, order = order_by_click_rates(issue_with(repos=repos), {})
    assert ordered.github_repos == tuple(repos)
    assert order.lines() == ["no clicks counted in the earlier issues; the sources' order is kept"]


def _source_issue(workdir, today: dt.date):
    """The latest seed issue with three weekend readings that have links."""
    seed = (workdir / "issues" / "ai-morning-post" / "2026-11-22.md").read_text(encoding="utf-8")
    readings = (
        "## Reading: Weekend Reading\n\n"
        "- First | never sent before | https://read.example/1\n"
        "- Second | clicked a little | https://read.example/2\n"
        "- Third | clicked most | https://read.example/3\n\n"
    )
    text = re.sub(r"## Reading: .*?(?=## Subscribe)", readings, seed, flags=re.S)
    path = workdir / "source.md"
    path.write_text(text.replace("date: 2026-11-22", f"date: {today - dt.timedelta(days=1)}"))
    return path


def _earlier_sends(factory, settings, today: dt.date) -> None:
    """A click-tracked send a week ago (10 delivered) with clicks on some of today's entries, and
    one 40 days ago whose clicks are too old to count."""
    week = tracked_send(factory, settings, today - dt.timedelta(days=7))
    deliver(factory, week, sent_hours=[0] * 10, delivered_hours=[0] * 10)
    links = [
        (HF + "a/alpha", "huggingface"),  # 1 click
        (HF + "b/beta", "huggingface"),  # 3
        (HF + "datasets/e/fresh", "huggingface"),  # 2
        (GH + "o/mid", "github"),  # seen, 0 clicks
        (GH + "o/small", "github"),  # 5
        ("https://read.example/2", "reading"),  # 1
        ("https://read.example/3", "reading"),  # 4
    ]
    add_links(factory, week, links)
    clicks = {1: [(0, 1, 6)], 2: [(0, 3, 0)], 3: [(0, 2, 0)], 5: [(0, 5, 0)], 6: [(0, 1, 0)]}
    add_clicks(factory, week, {**clicks, 7: [(0, 4, 0)]})
    old = tracked_send(factory, settings, today - dt.timedelta(days=40))
    deliver(factory, old, sent_hours=[0] * 10, delivered_hours=[0] * 10)
    add_links(factory, old, [(GH + "o/big", "github"), (HF + "n/newcomer", "huggingface")])
    add_clicks(factory, old, {1: [(0, 100, 0)], 2: [(0, 100, 0)]})


def test_issue_new_orders_by_earlier_click_rates_and_says_what_moved(
    workdir, database_url, factory, settings, sample_list
):
    today = dt.date.today()
    with transaction(factory) as session:
        for source, entries in NOW.items():
            store_snapshot(session, source, today, entries)
    _earlier_sends(factory, settings, today)
    source = _source_issue(workdir, today)
    env = {"DATABASE_URL": database_url}
    args = ["issue", "new", "--date", "today", "--from", str(source), "--copy-text"]

    plain = mailer(workdir, *args, "--out", "plain", env=env)
    assert plain.returncode == 0, plain.stderr
    assert "order_by_clicks" not in plain.stdout
    unordered = load_issue(workdir / "plain" / "ai-morning-post" / f"{today}.md")
    assert [r.name for r in unordered.github_repos] == ["o/big", "o/mid", "o/fresh", "o/small"]

    list_file = workdir / "lists" / "ai-morning-post.toml"
    list_file.write_text(list_file.read_text() + "\n[analytics]\norder_by_clicks = true\n")
    result = mailer(workdir, *args, "--out", "ordered", env=env)
    assert result.returncode == 0, result.stderr
    issue = load_issue(workdir / "ordered" / "ai-morning-post" / f"{today}.md")
    # models: alpha (10 %) and beta (30 %) trade their places; newcomer and gamma were in no send
    # of the four weeks (newcomer's clicks are 40 days old); the one dataset seen stays
    models = ["n/newcomer", "c/gamma", "d/data", "e/fresh"]
    assert [m.id for m in unordered.hf_models] == ["a/alpha", "b/beta", *models]
    assert [m.id for m in issue.hf_models] == ["b/beta", "a/alpha", *models]
    # github: o/big's 100 old clicks do not count; o/small (50 %) takes o/mid's (0 %) place
    assert [r.name for r in issue.github_repos] == ["o/big", "o/small", "o/fresh", "o/mid"]
    assert [i.title for i in issue.reading_items] == ["First", "Third", "Second"]
    assert issue.tool_items == unordered.tool_items and issue.mover_items == unordered.mover_items
    lines = result.stdout.splitlines()
    at = lines.index(
        f"  order_by_clicks (reader clicks / delivered, sends of the 4 weeks before {today}):"
    )
    assert lines[at + 1 : at + 4] == [
        "    huggingface: reordered b/beta 30.00 % (2 -> 1), a/alpha 10.00 % (1 -> 2)",
        "    github: reordered o/small 50.00 % (4 -> 2), o/mid 0.00 % (2 -> 4)",
        "    reading: reordered Third 40.00 % (3 -> 2), Second 10.00 % (2 -> 3)",
    ]
