"""Fetch every configured trending source and store today's snapshots, one source at a time.

Each source has its own transaction and no transaction is open during a request: a failing
source leaves the others stored and the database unlocked. A source that already has today's
snapshot is not fetched again (unless `refresh`), so a fetch never delays a send that has its data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import requests
from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.content import github, huggingface
from mailer.content.lists import ListDefinition
from mailer.content.snapshots import Snapshot, latest_snapshot, snapshot_on, store_snapshot
from mailer.content.source_errors import SourceError
from mailer.content.trending_config import TrendingConfig, trending_config
from mailer.errors import MailerError
from mailer.store.db import transaction

Fetcher = Callable[[], list[dict[str, Any]]]


@dataclass(frozen=True)
class FetchResult:
    source: str
    snapshot: Snapshot | None  # today's snapshot when the source answered (or already had one)
    written: bool = False  # False: today's snapshot already existed and was kept
    error: SourceError | None = None
    fallback: Snapshot | None = None  # on error: the newest older snapshot issues will use

    @property
    def usable(self) -> Snapshot | None:
        return self.snapshot or self.fallback


def make_fetchers(
    config: TrendingConfig,
    settings: Settings,
    today: dt.date,
    *,
    hf_transport: httpx2.BaseTransport | None = None,
    github_session: requests.Session | None = None,
    cache_dir: Path | None = github.DEFAULT_CACHE_DIR,
) -> dict[str, Fetcher]:
    fetchers: dict[str, Fetcher] = {}
    hf = config.huggingface
    if hf and hf.models:
        fetchers[huggingface.MODELS] = lambda: huggingface.fetch_models(
            hf.scan, token=settings.hf_token, timeout=config.timeout, transport=hf_transport
        )
    if hf and hf.datasets:
        fetchers[huggingface.DATASETS] = lambda: huggingface.fetch_datasets(
            hf.scan, token=settings.hf_token, timeout=config.timeout, transport=hf_transport
        )
    if config.github:
        gh = config.github

        def fetch_github() -> list[dict[str, Any]]:
            client = github.GitHubClient(
                settings.github_token, config.timeout, cache_dir, github_session
            )
            return github.fetch_repositories(gh, today, client)

        fetchers[github.SOURCE] = fetch_github
    return fetchers


def fetch_and_store(
    factory: sessionmaker[Session],
    fetchers: dict[str, Fetcher],
    today: dt.date,
    refresh: bool = False,
) -> list[FetchResult]:
    results = []
    for source, fetch in fetchers.items():
        with transaction(factory) as session:
            existing = snapshot_on(session, source, today)
        if existing is not None and not refresh:
            results.append(FetchResult(source, existing))
            continue
        try:
            entries = fetch()
        except SourceError as exc:
            with transaction(factory) as session:
                fallback = latest_snapshot(session, source, today)
            results.append(FetchResult(source, None, error=exc, fallback=fallback))
            continue
        with transaction(factory) as session:
            snapshot, written = store_snapshot(session, source, today, entries, replace=refresh)
        results.append(FetchResult(source, snapshot, written=written))
    return results


def fetch_trending(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    today: dt.date,
    refresh: bool = False,
) -> list[FetchResult]:
    """`mailer trending fetch`: every source of the list's [sources] tables, stored as today's
    snapshots; the GitHub answers cached next to the outbox (var/cache/github)."""
    config = trending_config(list_def)
    if not config.enabled:
        raise MailerError(
            f"{list_def.path}: no [sources.huggingface] or [sources.github] table; nothing to fetch"
        )
    fetchers = make_fetchers(
        config, settings, today, cache_dir=settings.outbox_dir.parent / "cache" / "github"
    )
    return fetch_and_store(factory, fetchers, today, refresh=refresh)


def raise_for_failures(results: list[FetchResult], require_fresh: bool = False) -> None:
    """A MailerError when a source failed and issues cannot do without it: it has no earlier
    snapshot to fall back on, or `require_fresh` refuses the fallback."""
    failed = [r for r in results if r.error is not None]
    if failed and (require_fresh or any(r.usable is None for r in failed)):
        reason = "--require-fresh" if require_fresh else "no earlier snapshot to fall back on"
        raise MailerError(
            f"{len(failed)} of {len(results)} source(s) failed ({reason}): "
            + "; ".join(str(r.error) for r in failed)
        )
