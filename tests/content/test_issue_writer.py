"""The issue file writer reads back to the same content, and outside text cannot break a line."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailer.content.issue_file import parse_issue
from mailer.content.issue_writer import format_issue
from mailer.content.model import Mover, TrendingModel, TrendingRepo
from tests.content.conftest import ROOT, TODAY

SEEDS = sorted((ROOT / "issues" / "ai-morning-post").glob("*.md"))


@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: p.stem)
def test_seed_issues_round_trip(seed):
    issue = parse_issue(seed, seed.read_text(encoding="utf-8"))
    assert parse_issue(seed, format_issue(issue)) == issue


def test_outside_text_is_flattened_into_one_cell():
    issue = parse_issue(SEEDS[-1], SEEDS[-1].read_text(encoding="utf-8"))
    issue = replace(
        issue,
        trending_as_of=TODAY,
        hf_models=(TrendingModel("a/b", "text-generation"), TrendingModel("c/d", "", "dataset")),
        github_repos=(
            TrendingRepo("acme/agent-kit", "Build | test | ship LLM agents\nin one file", 3120),
            TrendingRepo("tiny/nodesc", "", 50),
        ),
        mover_items=(
            Mover(
                "datasets/c/d", "huggingface", 12, "likes", "https://huggingface.co/datasets/c/d"
            ),
        ),
    )
    back = parse_issue(SEEDS[-1], format_issue(issue))
    assert back.github_repos == (
        TrendingRepo("acme/agent-kit", "Build / test / ship LLM agents in one file", 3120),
        TrendingRepo("tiny/nodesc", "No description", 50),
    )
    assert back.hf_models == (
        TrendingModel("a/b", "text-generation"),
        TrendingModel("c/d", "", "dataset"),
    )
    assert back.mover_items == issue.mover_items and back.trending_as_of == TODAY
