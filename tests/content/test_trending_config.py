"""The [sources] table: defaults, the shipped list, and errors that name the file and the field."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailer.content.trending_config import GitHubConfig, HuggingFaceConfig, trending_config
from mailer.errors import ContentError


def with_sources(list_def, sources):
    return replace(list_def, sources=sources)


def test_shipped_list(list_def):
    config = trending_config(list_def)
    assert config.huggingface == HuggingFaceConfig(models=8, datasets=4, tasks=(), scan=50)
    assert config.github == GitHubConfig(
        topics=("machine-learning", "llm", "deep-learning"), count=6, pushed_within_days=7, scan=50
    )
    assert (config.timeout, config.movers) == (15.0, 5)


def test_no_sources_means_nothing_to_fill(list_def):
    assert not trending_config(with_sources(list_def, {})).enabled


@pytest.mark.parametrize(
    "sources, message",
    [
        (
            {"github": {"topics": []}},
            "field 'sources.github.topics': needs at least one GitHub topic",
        ),
        (
            {"github": {"topics": "llm"}},
            "field 'sources.github.topics': must be a list of GitHub topics",
        ),
        ({"github": {"topics": ["Machine Learning"]}}, "field 'sources.github.topics'"),
        (
            {"github": {"topics": ["llm"], "count": 0}},
            "field 'sources.github.count': must be a whole number from 1 to 50, got 0",
        ),
        (
            {"github": {"topics": ["llm"], "count": 20, "scan": 10}},
            "field 'sources.github.scan': must be at least count (20)",
        ),
        (
            {"huggingface": {"models": "8"}},
            "field 'sources.huggingface.models': must be a whole number",
        ),
        ({"huggingface": {"modles": 8}}, "[sources.huggingface]: unknown field(s) modles"),
        ({"huggingface": {"tasks": [1]}}, "field 'sources.huggingface.tasks'"),
        ({"timeout": 0}, "field 'sources.timeout': must be a number from 1.0 to 120.0"),
        ({"github": "yes"}, "[sources.github]: must be a table"),
        ({"reddit": {}}, "[sources]: unknown field(s) reddit"),
    ],
)
def test_errors_name_file_and_field(list_def, sources, message):
    with pytest.raises(ContentError) as info:
        trending_config(with_sources(list_def, sources))
    assert str(info.value).startswith(list_def.path + ": ")
    assert message in str(info.value)
