"""Trending sections of an issue, computed from snapshots: lists, biggest movers and figures.

`attach_trending` is what the send/preview path calls: it fills only the sections the editor left
empty, from the newest snapshot on or before the issue date (or the `as_of:` the file pins), so a
re-render of the same issue file reads the same rows and renders the same mail.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from mailer.content.github import SOURCE as GITHUB
from mailer.content.huggingface import DATASETS, MODELS
from mailer.content.lists import ListDefinition
from mailer.content.model import Figure, IssueContent, Mover, TrendingModel, TrendingRepo
from mailer.content.snapshots import Snapshot, latest_snapshot, week_before
from mailer.content.source_errors import StaleTrendingError
from mailer.content.trending_config import TrendingConfig, trending_config

MAX_FIGURES = 4  # the metrics row of the template holds four columns comfortably
SMALL_MODEL_PARAMS = 4_000_000_000


def configured_sources(config: TrendingConfig) -> list[str]:
    sources = []
    if config.huggingface and config.huggingface.models:
        sources.append(MODELS)
    if config.huggingface and config.huggingface.datasets:
        sources.append(DATASETS)
    if config.github:
        sources.append(GITHUB)
    return sources


def select_hf(
    snapshot: Snapshot | None, kind: str, count: int, tasks: Iterable[str]
) -> tuple[TrendingModel, ...]:
    if snapshot is None:
        return ()
    wanted = set(tasks)
    chosen = [e for e in snapshot.entries if not wanted or e.get("task") in wanted][:count]
    return tuple(
        TrendingModel(
            id=e["id"],
            task=e.get("task") or "",
            kind=kind,
            likes=e.get("likes"),
            downloads=e.get("downloads"),
        )
        for e in chosen
    )


def select_repos(snapshot: Snapshot | None, count: int) -> tuple[TrendingRepo, ...]:
    if snapshot is None:
        return ()
    return tuple(
        TrendingRepo(name=e["name"], description=e.get("description") or "", stars=e.get("stars"))
        for e in snapshot.entries[:count]
    )


def _mover_identity(source: str, entry: dict[str, Any]) -> tuple[str, str, str, str]:
    """(name, provider, metric, url); dataset names keep the 'datasets/' prefix the issue file
    uses."""
    if source == GITHUB:
        return entry["name"], "github", "stars", f"https://github.com/{entry['name']}"
    name = f"datasets/{entry['id']}" if source == DATASETS else entry["id"]
    return name, "huggingface", "likes", f"https://huggingface.co/{name}"


def compute_movers(pairs: Iterable[tuple[Snapshot, Snapshot]], count: int) -> tuple[Mover, ...]:
    """Largest gains in likes (Hub) or stars (GitHub) between each (current, week-old) snapshot
    pair.

    Only entries present in both snapshots count: a newcomer has no earlier figure to gain from.
    """
    movers = []
    for current, previous in pairs:
        metric_key = "stars" if current.source == GITHUB else "likes"
        key = "name" if current.source == GITHUB else "id"
        before = {e[key]: e.get(metric_key) for e in previous.entries}
        for entry in current.entries:
            old, new = before.get(entry[key]), entry.get(metric_key)
            if isinstance(old, int) and isinstance(new, int) and new > old:
                name, provider, metric, url = _mover_identity(current.source, entry)
                movers.append(
                    Mover(name=name, source=provider, gain=new - old, metric=metric, url=url)
                )
    movers.sort(key=lambda m: (-m.gain, m.name))
    return tuple(movers[:count])


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%"


def model_figures(snapshot: Snapshot) -> list[Figure]:
    entries = snapshot.entries
    total = len(entries)
    figures = []
    tasks = Counter(e.get("task") for e in entries if e.get("task"))
    if tasks:
        task, n = sorted(tasks.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        figures.append(Figure(str(n), f"of the top {total} trending models are {task}"))
    sized = [e["params"] for e in entries if isinstance(e.get("params"), int)]
    if sized:
        small = sum(1 for p in sized if p < SMALL_MODEL_PARAMS)
        figures.append(
            Figure(
                _percent(small, len(sized)),
                f"of trending models with a known size are under {SMALL_MODEL_PARAMS // 10**9}B "
                "parameters",
            )
        )
    gguf = sum(1 for e in entries if e.get("gguf"))
    figures.append(Figure(_percent(gguf, total), "of trending models ship GGUF weights"))
    return figures


def repo_figures(snapshot: Snapshot) -> list[Figure]:
    since = snapshot.taken_on - dt.timedelta(days=7)
    new = sum(
        1
        for e in snapshot.entries
        if e.get("created_at") and dt.date.fromisoformat(e["created_at"][:10]) > since
    )
    if not new:  # a reader is never shown "0 ..."
        return []
    noun = "repository" if new == 1 else "repositories"
    return [Figure(str(new), f"trending GitHub {noun} created this week")]


def compute_figures(snapshots: dict[str, Snapshot | None]) -> list[Figure]:
    """'By the Numbers' figures: top task, small-model and GGUF shares, new repositories."""
    figures: list[Figure] = []
    if snapshots.get(MODELS):
        figures += model_figures(snapshots[MODELS])
    if snapshots.get(GITHUB):
        figures += repo_figures(snapshots[GITHUB])
    return figures


def load_snapshots(
    session: Session, sources: Iterable[str], on_or_before: dt.date
) -> dict[str, Snapshot | None]:
    return {source: latest_snapshot(session, source, on_or_before) for source in sources}


def require_fresh_snapshots(snapshots: dict[str, Snapshot | None], fresh_day: dt.date) -> None:
    stale = [
        f"{source} ({snap.taken_on if snap else 'no snapshot'})"
        for source, snap in snapshots.items()
        if snap is None or snap.taken_on < fresh_day
    ]
    if stale:
        raise StaleTrendingError(
            f"trending data is not from {fresh_day}: {', '.join(stale)}; run `mailer trending "
            "fetch` "
            "(or drop --require-fresh to use the newest snapshot and show it as of its date)"
        )


def movers_for(
    session: Session, snapshots: dict[str, Snapshot | None], count: int
) -> tuple[Mover, ...]:
    pairs = []
    for snapshot in snapshots.values():
        previous = week_before(session, snapshot) if snapshot else None
        if snapshot and previous:
            pairs.append((snapshot, previous))
    return compute_movers(pairs, count)


def trending_sections(
    session: Session, config: TrendingConfig, snapshots: dict[str, Snapshot | None]
) -> dict[str, Any]:
    """Every computed section from the given snapshots (what `issue new` writes and attach
    fills)."""
    hf = config.huggingface
    models = select_hf(snapshots.get(MODELS), "model", hf.models, hf.tasks) if hf else ()
    datasets = select_hf(snapshots.get(DATASETS), "dataset", hf.datasets, hf.tasks) if hf else ()
    repos = select_repos(snapshots.get(GITHUB), config.github.count) if config.github else ()
    return {
        "hf_models": models + datasets,
        "github_repos": repos,
        "mover_items": movers_for(session, snapshots, config.movers),
        "figures": tuple(compute_figures(snapshots)),
    }


def _as_of(
    snapshots: dict[str, Snapshot | None], sources: Iterable[str], issue_date: dt.date
) -> dt.date | None:
    days = [snapshots[s].taken_on for s in sources if snapshots.get(s)]
    return min(days) if days and min(days) < issue_date else None


def attach_trending(
    issue: IssueContent,
    session: Session,
    list_def: ListDefinition,
    today: dt.date | None = None,
    require_fresh: bool = False,
) -> IssueContent:
    """Fill the trending sections the editor left empty; add computed figures after the editor's.

    Reads the newest snapshot of each configured source taken on or before the issue date (or
    before the file's `as_of:`). Sets `trending_as_of` when that data is older than the issue.
    With `require_fresh`, data older than min(issue date, today) is a StaleTrendingError.
    Without snapshots (or without `[sources]` in the list) the issue is returned unchanged.
    """
    config = trending_config(list_def)
    sources = configured_sources(config)
    if not sources:
        return issue
    snapshots = load_snapshots(session, sources, issue.trending_as_of or issue.date)
    if require_fresh:
        require_fresh_snapshots(snapshots, min(issue.date, today or issue.date))
    computed = trending_sections(session, config, snapshots)
    changes: dict[str, Any] = {}
    used: set[str] = set()
    if not issue.hf_models and computed["hf_models"]:
        changes["hf_models"] = computed["hf_models"]
        used |= {MODELS, DATASETS}
    if not issue.github_repos and computed["github_repos"]:
        changes["github_repos"] = computed["github_repos"]
        used.add(GITHUB)
    if not issue.mover_items and computed["mover_items"]:
        changes["mover_items"] = computed["mover_items"]
        used |= {s for s in sources if snapshots.get(s)}
    labels = {f.label for f in issue.figures}
    room = max(0, MAX_FIGURES - len(issue.figures))
    extra = tuple(f for f in computed["figures"] if f.label not in labels)[:room]
    if extra:
        changes["figures"] = issue.figures + extra
        used |= {MODELS, GITHUB} & {s for s in sources if snapshots.get(s)}
    if changes and issue.trending_as_of is None:
        as_of = _as_of(snapshots, used, issue.date)
        if as_of:
            changes["trending_as_of"] = as_of
    return replace(issue, **changes) if changes else issue
