"""Fetch every configured trending source and store today's snapshots, one source at a time.

Each source has its own transaction and no transaction is open during a request: a failing
source leaves the others stored and the database unlocked. A source that already has today's
snapshot is not fetched again (unless `refresh`), so a fetch never delays a send that has its data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx2
import requests
from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.store.db import transaction
from mailer.content import github
from mailer.content import huggingface
from mailer.content.snapshots import Snapshot, latest_snapshot, snapshot_on, store_snapshot
from mailer.content.source_errors import SourceError
from mailer.content.trending_config import TrendingConfig

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


def make_fetchers(config: TrendingConfig, settings: Settings, today: dt.date, *,
                  hf_transport: httpx2.BaseTransport | None = None,
                  github_session: requests.Session | None = None,
                  cache_dir: Path | None = github.DEFAULT_CACHE_DIR) -> dict[str, Fetcher]:
    fetchers: dict[str, Fetcher] = {}
    hf = config.huggingface
    if hf and hf.models:
        fetchers[huggingface.MODELS] = lambda: huggingface.fetch_models(
            hf.scan, token=settings.hf_token, timeout=config.timeout, transport=hf_transport)
    if hf and hf.datasets:
        fetchers[huggingface.DATASETS] = lambda: huggingface.fetch_datasets(
            hf.scan, token=settings.hf_token, timeout=config.timeout, transport=hf_transport)
    if config.github:
        gh = config.github

        def fetch_github() -> list[dict[str, Any]]:
            client = github.GitHubClient(settings.github_token, config.timeout, cache_dir, github_session)
            return github.fetch_repositories(gh, today, client)

        fetchers[github.SOURCE] = fetch_github
    return fetchers


def fetch_and_store(factory: sessionmaker[Session], fetchers: dict[str, Fetcher], today: dt.date,
                    refresh: bool = False) -> list[FetchResult]:
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
