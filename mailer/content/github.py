"""AI/ML repositories from the GitHub REST search API, through `requests`.

One search per configured topic (`topic:a topic:b` would mean both), recently pushed, sorted by
stars; results are merged by name. Conditional requests (ETag / If-None-Match) are answered from a
small file cache on 304. Rate limits are reported with the time they reset; nothing is retried here:
a failed fetch falls back to the newest snapshot.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from mailer.content.source_errors import (
    EmptyResultError,
    RateLimitedError,
    SourceDataError,
    SourceError,
    SourceUnavailableError,
    describe_reset,
)
from mailer.content.trending_config import GitHubConfig

SOURCE = "github"
API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
USER_AGENT = "mailer-newsletter (+https://github.com/aimorningpost/mailer)"
DEFAULT_CACHE_DIR = Path("var/cache/github")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class EtagCache:
    """One JSON file per request URL: the last ETag and the body it came with."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def get(self, key: str) -> tuple[str, Any] | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            return data["etag"], data["body"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # no cache or a damaged one: just fetch without If-None-Match

    def put(self, key: str, etag: str, body: Any) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._path(key).write_text(json.dumps({"etag": etag, "body": body}), encoding="utf-8")
        except OSError:
            pass  # the cache only saves quota; failing to write it must not fail the fetch


class GitHubClient:
    def __init__(
        self,
        token: str | None = None,
        timeout: float = 15.0,
        cache_dir: Path | None = DEFAULT_CACHE_DIR,
        session: requests.Session | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ):
        self.token, self.timeout, self.clock = token, timeout, clock
        self.cache = EtagCache(cache_dir) if cache_dir else None
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": USER_AGENT,
            }
        )
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def get_json(self, path: str, params: dict[str, Any]) -> Any:
        url = requests.Request("GET", API_URL + path, params=params).prepare().url or path
        cached = self.cache.get(url) if self.cache else None
        headers = {"If-None-Match": cached[0]} if cached else {}
        try:
            response = self.session.get(
                url, headers=headers, timeout=(min(self.timeout, 5.0), self.timeout)
            )
        except requests.Timeout:
            raise SourceUnavailableError(
                SOURCE,
                f"no answer from api.github.com within {self.timeout:g} s; check the network or "
                "try again later",
            ) from None
        except requests.ConnectionError as exc:
            raise SourceUnavailableError(
                SOURCE, f"cannot reach api.github.com ({_reason(exc)}); check the network"
            ) from None
        if response.status_code == 304 and cached:
            return cached[1]
        self._raise_for_status(response)
        try:
            body = response.json()
        except ValueError as exc:
            raise SourceDataError(
                SOURCE, f"GitHub's answer is not valid JSON ({exc}); try again later"
            ) from None
        if self.cache and response.headers.get("ETag"):
            self.cache.put(url, response.headers["ETag"], body)
        return body

    def _raise_for_status(self, response: requests.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        if status in (403, 429) and (
            response.headers.get("x-ratelimit-remaining") == "0"
            or "retry-after" in response.headers
        ):
            resets_at = self._resets_at(response.headers)
            secondary = response.headers.get("x-ratelimit-remaining") != "0"
            what = (
                "secondary rate limit hit (too many searches in a short time)"
                if secondary
                else "rate limit exhausted"
            )
            hint = "" if self.token else "; set GITHUB_TOKEN for a higher limit"
            raise RateLimitedError(
                SOURCE, f"GitHub {what}; {describe_reset(resets_at, self.clock())}{hint}", resets_at
            )
        message = _api_message(response)
        if status == 401:
            raise SourceError(
                SOURCE, f"GitHub rejected GITHUB_TOKEN (401: {message}); renew it or unset it"
            )
        if status >= 500:
            raise SourceUnavailableError(
                SOURCE, f"api.github.com answered HTTP {status} (server error); try again later"
            )
        raise SourceError(
            SOURCE,
            f"GitHub answered HTTP {status} ({message}); check [sources.github] in the list file",
        )

    def _resets_at(self, headers: Any) -> dt.datetime | None:
        if headers.get("retry-after", "").strip().isdigit():
            return self.clock() + dt.timedelta(seconds=int(headers["retry-after"]))
        if headers.get("x-ratelimit-reset", "").strip().isdigit():
            return dt.datetime.fromtimestamp(int(headers["x-ratelimit-reset"]), dt.UTC)
        return None


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 120 else text[:117] + "..."


def _api_message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", "")) or response.reason
    except (ValueError, AttributeError):
        return response.reason or "no message"


def repo_entry(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": item["full_name"],
        "description": (item.get("description") or "").strip(),
        "stars": int(item["stargazers_count"]),
        "forks": item.get("forks_count"),
        "language": item.get("language"),
        "topics": list(item.get("topics") or []),
        "created_at": item.get("created_at"),
        "pushed_at": item.get("pushed_at"),
    }


def _items(body: Any, topic: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise SourceDataError(
            SOURCE, f"search for topic '{topic}' did not return an 'items' list; try again later"
        )
    try:
        return [repo_entry(item) for item in body["items"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceDataError(
            SOURCE, f"a repository in the search for topic '{topic}' lacks {exc}; try again later"
        ) from None


def search_query(topic: str, today: dt.date, pushed_within_days: int) -> str:
    since = today - dt.timedelta(days=pushed_within_days)
    return f"topic:{topic} pushed:>={since.isoformat()} archived:false"


def fetch_repositories(
    config: GitHubConfig, today: dt.date, client: GitHubClient
) -> list[dict[str, Any]]:
    """Repositories of every configured topic, merged, most stars first, at most `config.scan`."""
    merged: dict[str, dict[str, Any]] = {}
    for topic in config.topics:
        params = {
            "q": search_query(topic, today, config.pushed_within_days),
            "sort": "stars",
            "order": "desc",
            "per_page": config.scan,
        }
        for entry in _items(client.get_json("/search/repositories", params), topic):
            merged.setdefault(entry["name"], entry)
    if not merged:
        raise EmptyResultError(
            SOURCE,
            f"no repositories with topics {', '.join(config.topics)} were pushed in the "
            f"last {config.pushed_within_days} days; keeping the newest snapshot",
        )
    return sorted(merged.values(), key=lambda e: (-e["stars"], e["name"]))[: config.scan]
