"""Trending models and datasets from the Hugging Face Hub, through `huggingface_hub.HfApi`.

Provider quirks handled here:
- huggingface_hub 2.x talks through one process-wide `httpx2.Client` built with `timeout=None`, and
  `http_backoff` retries timeouts, network errors, 429 and 5xx five times with sleeps (and sleeps
  for the whole Retry-After on a 429). Offline that is minutes of waiting. We install, for the
  duration of one fetch, a client with a bounded timeout whose transport turns those failures into
  our own exceptions: they are not httpx2 exceptions, so `http_backoff` does not retry them.
  `HfApi.list_models` passes `timeout=None` on each request, overriding any client default, so the
  transport writes the bound into each request itself.
- Building the User-Agent header calls `detect_agent()`, which (unless HF_HUB_DISABLE_TELEMETRY)
  fetches `/api/agent-harnesses` through the same shared client and caches it under HF_HOME. A
  newsletter fetch should make only the requests it needs, so telemetry is off during our fetch.
- `expand=[...]` asks the Hub for only the fields we store (one small page, sorted by trending).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import huggingface_hub
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
from huggingface_hub.utils import _http as hf_http
from huggingface_hub.utils import parse_ratelimit_headers

from mailer.content.source_errors import (
    EmptyResultError,
    RateLimitedError,
    SourceDataError,
    SourceError,
    SourceUnavailableError,
    describe_reset,
)

MODELS = "huggingface-models"
DATASETS = "huggingface-datasets"
MODEL_FIELDS = [
    "pipeline_tag",
    "likes",
    "downloads",
    "library_name",
    "createdAt",
    "lastModified",
    "trendingScore",
    "gguf",
    "safetensors",
]
DATASET_FIELDS = ["likes", "downloads", "createdAt", "lastModified", "trendingScore", "tags"]
_TOKEN_HINT = "check HF_TOKEN (or unset it: trending lists need no token)"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FailFastTransport(httpx2.BaseTransport):
    """Wraps the real transport: timeouts, network errors, 429 and 5xx raise at once, unretried."""

    def __init__(
        self,
        source: str,
        timeout: float,
        inner: httpx2.BaseTransport | None = None,
        clock: Callable[[], dt.datetime] = _utcnow,
    ):
        self.source, self.timeout, self.clock = source, timeout, clock
        self.inner = inner or httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        # `paginate()` passes timeout=None per request, which overrides the client's default: the
        # bound has to be set on the request itself, here.
        request.extensions["timeout"] = httpx2.Timeout(self.timeout).as_dict()
        try:
            response = self.inner.handle_request(request)
        except httpx2.TimeoutException:
            raise SourceUnavailableError(
                self.source,
                f"no answer from {host} within {self.timeout:g} s; check the network or try again "
                "later",
            ) from None
        except httpx2.TransportError as exc:
            raise SourceUnavailableError(
                self.source, f"cannot reach {host} ({exc}); check the network"
            ) from None
        if response.status_code == 429:
            response.close()
            resets_at = self._resets_at(response.headers)
            raise RateLimitedError(
                self.source,
                f"Hugging Face rate limit reached; {describe_reset(resets_at, self.clock())}; "
                "set HF_TOKEN for a higher limit",
                resets_at,
            )
        if response.status_code >= 500:
            response.close()
            raise SourceUnavailableError(
                self.source,
                f"{host} answered HTTP {response.status_code} (server error); try again later",
            )
        return response

    def _resets_at(self, headers: httpx2.Headers) -> dt.datetime | None:
        info = parse_ratelimit_headers(headers)
        seconds = info.reset_in_seconds if info else None
        if seconds is None and headers.get("retry-after", "").strip().isdigit():
            seconds = int(headers["retry-after"])
        return self.clock() + dt.timedelta(seconds=seconds) if seconds is not None else None

    def close(self) -> None:
        self.inner.close()


@contextmanager
def bounded_hub_client(
    source: str, timeout: float, transport: httpx2.BaseTransport | None = None
) -> Iterator[None]:
    """Point huggingface_hub's shared client at a bounded, fail-fast one for the `with` block."""
    previous = getattr(hf_http, "_GLOBAL_CLIENT_FACTORY", hf_http.default_client_factory)

    def factory() -> httpx2.Client:
        return httpx2.Client(
            transport=FailFastTransport(source, timeout, transport),
            event_hooks={"request": [hf_http.hf_request_event_hook]},  # offline mode, request ids
            follow_redirects=True,
            timeout=httpx2.Timeout(timeout),
        )

    telemetry_off = constants.HF_HUB_DISABLE_TELEMETRY
    constants.HF_HUB_DISABLE_TELEMETRY = True
    huggingface_hub.set_client_factory(factory)
    try:
        yield
    finally:
        huggingface_hub.set_client_factory(previous)
        constants.HF_HUB_DISABLE_TELEMETRY = telemetry_off


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _params(info: Any) -> int | None:
    if info.safetensors is not None and info.safetensors.total:
        return int(info.safetensors.total)
    if isinstance(info.gguf, dict) and isinstance(info.gguf.get("total"), int):
        return info.gguf["total"]
    return None


def model_entry(info: Any) -> dict[str, Any]:
    return {
        "id": info.id,
        "task": info.pipeline_tag or "",
        "likes": info.likes,
        "downloads": info.downloads,
        "library": info.library_name,
        "created_at": _iso(info.created_at),
        "last_modified": _iso(info.last_modified),
        "trending_score": info.trending_score,
        "params": _params(info),
        "gguf": info.gguf is not None,
    }


def dataset_entry(info: Any) -> dict[str, Any]:
    # Datasets have no pipeline tag; their task lives in tags as "task_categories:<task>".
    tasks = [t.split(":", 1)[1] for t in info.tags or () if t.startswith("task_categories:")]
    return {
        "id": info.id,
        "task": tasks[0] if tasks else "",
        "likes": info.likes,
        "downloads": info.downloads,
        "created_at": _iso(info.created_at),
        "last_modified": _iso(info.last_modified),
        "trending_score": info.trending_score,
    }


def _collect(
    source: str,
    listing: Callable[[], Iterable[Any]],
    to_entry: Callable[[Any], dict],
    timeout: float,
    transport: httpx2.BaseTransport | None,
) -> list[dict[str, Any]]:
    if constants.is_offline_mode():
        raise SourceUnavailableError(
            source, "HF_HUB_OFFLINE is set; unset it to fetch from the Hub"
        )
    try:
        with bounded_hub_client(source, timeout, transport):
            entries = [to_entry(info) for info in listing()]
    except SourceError:
        raise
    except OfflineModeIsEnabled:
        raise SourceUnavailableError(
            source, "HF_HUB_OFFLINE is set; unset it to fetch from the Hub"
        ) from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        hint = _TOKEN_HINT if status in (401, 403) else "the request was refused"
        raise SourceError(source, f"Hugging Face answered HTTP {status}; {hint}") from None
    except json.JSONDecodeError as exc:
        raise SourceDataError(
            source,
            f"the Hub's answer is not valid JSON ({exc.msg} at char {exc.pos}); try again later",
        ) from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SourceDataError(
            source,
            f"the Hub's answer does not have the documented shape "
            f"({type(exc).__name__}: {exc}); try again later",
        ) from None
    if not entries:
        raise EmptyResultError(
            source, "the Hub returned no trending entries; keeping the newest snapshot"
        )
    return entries


def fetch_models(
    scan: int,
    *,
    token: str | None = None,
    timeout: float = 15.0,
    transport: httpx2.BaseTransport | None = None,
) -> list[dict[str, Any]]:
    """The `scan` top models by trending score, as plain dicts for a snapshot."""
    api = HfApi(token=token or None)
    return _collect(
        MODELS,
        lambda: api.list_models(sort="trending_score", limit=scan, expand=MODEL_FIELDS),
        model_entry,
        timeout,
        transport,
    )


def fetch_datasets(
    scan: int,
    *,
    token: str | None = None,
    timeout: float = 15.0,
    transport: httpx2.BaseTransport | None = None,
) -> list[dict[str, Any]]:
    """The `scan` top datasets by trending score, as plain dicts for a snapshot."""
    api = HfApi(token=token or None)
    return _collect(
        DATASETS,
        lambda: api.list_datasets(sort="trending_score", limit=scan, expand=DATASET_FIELDS),
        dataset_entry,
        timeout,
        transport,
    )
