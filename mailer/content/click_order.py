"""`[analytics] order_by_clicks`: a new issue's trending entries (Hugging Face, GitHub) and weekend
readings ordered by how readers clicked the same URLs in earlier issues (ARCHITECTURE.md, "Clicks").

The rates are given (a mapping of URL to rate, made by the CLI from track's counts: content sits
below track and never reads clicks itself). The rule, per list of entries:
- an entry whose URL has a rate was seen before; the seen entries are sorted by rate, highest
  first (equal rates keep their order), among the places the seen entries hold;
- an entry without a rate (unseen: new this week, or no link) keeps its place. A seen entry
  nobody clicked has rate 0 and goes after the seen ones that were clicked, never before a new
  entry the sources put first: no clicks yet is no evidence against an entry.
Hugging Face models and datasets are ordered each among their own kind's places.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from mailer.content.model import IssueContent, Item, TrendingModel, TrendingRepo

T = TypeVar("T")


@dataclass(frozen=True)
class Moved:
    """An entry that click order moved: its place in its section before and after (1-based)."""

    name: str
    rate: float
    before: int
    after: int


@dataclass(frozen=True)
class SectionOrder:
    section: str  # huggingface | github | reading
    seen: int  # entries with an earlier click rate
    moved: tuple[Moved, ...]

    def line(self) -> str:
        if not self.seen:
            return f"{self.section}: no entry was in an earlier issue; order kept"
        if not self.moved:
            return f"{self.section}: already in click order ({self.seen} seen before)"
        moves = ", ".join(
            f"{m.name} {100 * m.rate:.2f} % ({m.before} -> {m.after})" for m in self.moved
        )
        return f"{self.section}: reordered {moves}"


@dataclass(frozen=True)
class ClickOrder:
    """What ordering by click rates did to a new issue."""

    sections: tuple[SectionOrder, ...]
    rated_urls: int  # URLs with a rate at all (0: no earlier clicks were counted)

    def lines(self) -> list[str]:
        if not self.rated_urls:
            return ["no clicks counted in the earlier issues; the sources' order is kept"]
        return [section.line() for section in self.sections]


def _order(
    items: Sequence[T],
    url_of: Callable[[T], str | None],
    rates: Mapping[str, float],
    group_of: Callable[[T], str],
) -> list[int]:
    """The indexes of `items` in their new order: the seen ones sorted by rate among their
    group's seen places, the others where they were."""
    order = list(range(len(items)))
    for group in dict.fromkeys(group_of(item) for item in items):
        places = [
            n for n, item in enumerate(items) if group_of(item) == group and url_of(item) in rates
        ]
        ranked = sorted(places, key=lambda n: -rates[url_of(items[n])])  # stable: ties keep order
        for place, n in zip(places, ranked, strict=True):
            order[place] = n
    return order


def _same_group(_item: object) -> str:
    return ""


def _section(
    section: str,
    items: Sequence[T],
    name_of: Callable[[T], str],
    url_of: Callable[[T], str | None],
    rates: Mapping[str, float],
    group_of: Callable[[T], str] = _same_group,
) -> tuple[list[T], SectionOrder]:
    order = _order(items, url_of, rates, group_of)
    moved = tuple(
        Moved(name_of(items[n]), rates[url_of(items[n])], n + 1, after)
        for after, n in enumerate(order, start=1)
        if n + 1 != after
    )
    seen = sum(1 for item in items if url_of(item) in rates)
    return [items[n] for n in order], SectionOrder(section, seen, moved)


def _model_url(model: TrendingModel) -> str:
    return model.url


def _repo_url(repo: TrendingRepo) -> str:
    return repo.url


def _item_url(item: Item) -> str | None:
    return item.url


def order_by_click_rates(
    issue: IssueContent, rates: Mapping[str, float]
) -> tuple[IssueContent, ClickOrder]:
    """The issue with its Hugging Face, GitHub and weekend reading entries in click order."""
    models, hf = _section(
        "huggingface", issue.hf_models, lambda m: m.id, _model_url, rates, lambda m: m.kind
    )
    repos, github = _section("github", issue.github_repos, lambda r: r.name, _repo_url, rates)
    reading, reads = _section("reading", issue.reading_items, lambda i: i.title, _item_url, rates)
    ordered = replace(
        issue, hf_models=tuple(models), github_repos=tuple(repos), reading_items=tuple(reading)
    )
    return ordered, ClickOrder((hf, github, reads), len(rates))
