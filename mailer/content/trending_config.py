"""The `[sources]` table of a list file: what each trending section pulls.

[sources] timeout = 15 # seconds per HTTP request, for every source movers = 5 # biggest movers
shown

[sources.huggingface] models = 8 # trending models shown datasets = 4 # trending datasets shown
tasks = ["text-generation"] # pipeline tags to show (empty or absent: any task) scan = 50 # entries
kept per snapshot; movers compare these week over week

[sources.github] topics = ["machine-learning", "llm"] count = 6 pushed_within_days = 7 scan = 50
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mailer.content.lists import ListDefinition
from mailer.errors import ContentError

_TOPIC_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,49}$")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class HuggingFaceConfig:
    models: int = 8
    datasets: int = 4
    tasks: tuple[str, ...] = ()
    scan: int = 50


@dataclass(frozen=True)
class GitHubConfig:
    topics: tuple[str, ...] = ("machine-learning",)
    count: int = 6
    pushed_within_days: int = 7
    scan: int = 50


@dataclass(frozen=True)
class TrendingConfig:
    huggingface: HuggingFaceConfig | None = None
    github: GitHubConfig | None = None
    timeout: float = 15.0
    movers: int = 5

    @property
    def enabled(self) -> bool:
        return self.huggingface is not None or self.github is not None


class _Fields:
    """Reads one table, naming the file and the dotted field in every error."""

    def __init__(self, path: str, table: str, data: Any, known: set[str]):
        self.path, self.table = path, table
        if not isinstance(data, dict):
            raise self.error("", "must be a table")
        unknown = sorted(set(data) - known)
        if unknown:
            raise self.error(
                "", f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        self.data = data

    def error(self, key: str, message: str) -> ContentError:
        name = f"{self.table}.{key}" if key else self.table
        return ContentError(
            self.path,
            None,
            f"[{self.table}]" + (f" field '{name}'" if key else "") + f": {message}",
        )

    def int(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(key, f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.data.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not low <= value <= high
        ):
            raise self.error(key, f"must be a number from {low} to {high}, got {value!r}")
        return float(value)

    def names(
        self, key: str, default: tuple[str, ...], pattern: re.Pattern, what: str
    ) -> tuple[str, ...]:
        value = self.data.get(key, list(default))
        if not isinstance(value, list) or not all(
            isinstance(v, str) and pattern.match(v) for v in value
        ):
            raise self.error(
                key, f'must be a list of {what} like ["machine-learning"], got {value!r}'
            )
        return tuple(value)


def _huggingface(path: str, data: Any) -> HuggingFaceConfig:
    f = _Fields(path, "sources.huggingface", data, {"models", "datasets", "tasks", "scan"})
    models, datasets = f.int("models", 8, 0, 50), f.int("datasets", 4, 0, 50)
    scan = f.int("scan", 50, 1, 100)
    if scan < max(models, datasets):
        raise f.error(
            "scan", f"must be at least models and datasets ({max(models, datasets)}), got {scan}"
        )
    return HuggingFaceConfig(
        models=models,
        datasets=datasets,
        scan=scan,
        tasks=f.names("tasks", (), _TAG_RE, "task tags"),
    )


def _github(path: str, data: Any) -> GitHubConfig:
    f = _Fields(path, "sources.github", data, {"topics", "count", "pushed_within_days", "scan"})
    topics = f.names("topics", (), _TOPIC_RE, "GitHub topics")
    if not topics:
        raise f.error(
            "topics", 'needs at least one GitHub topic, e.g. topics = ["machine-learning"]'
        )
    count = f.int("count", 6, 1, 50)
    scan = f.int("scan", 50, 1, 100)
    if scan < count:
        raise f.error("scan", f"must be at least count ({count}), got {scan}")
    return GitHubConfig(
        topics=topics,
        count=count,
        scan=scan,
        pushed_within_days=f.int("pushed_within_days", 7, 1, 365),
    )


def trending_config(list_def: ListDefinition) -> TrendingConfig:
    """The list's `[sources]`, validated; an absent table means no trending sections are filled."""
    raw = list_def.sources or {}
    f = _Fields(list_def.path, "sources", raw, {"timeout", "movers", "huggingface", "github"})
    return TrendingConfig(
        huggingface=_huggingface(list_def.path, raw["huggingface"])
        if "huggingface" in raw
        else None,
        github=_github(list_def.path, raw["github"]) if "github" in raw else None,
        timeout=f.number("timeout", 15.0, 1.0, 120.0),
        movers=f.int("movers", 5, 0, 20),
    )
