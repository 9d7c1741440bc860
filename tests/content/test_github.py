"""GitHub source: search cassettes in GitHub's response shape, ETag reuse, and each failure."""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote_plus

import pytest
import requests
import vcr as vcrpy

from mailer.content import github
from mailer.content.source_errors import (
    EmptyResultError,
    RateLimitedError,
    SourceDataError,
    SourceUnavailableError,
)
from mailer.content.trending_config import GitHubConfig
from tests.content.conftest import CASSETTES, TODAY, NetworkBlocked

CONFIG = GitHubConfig(
    topics=("machine-learning", "llm", "deep-learning"), count=6, pushed_within_days=7, scan=50
)
NOW = dt.datetime(2026, 11, 22, 19, 13, tzinfo=dt.UTC)


def client(tmp_path, token=None, **kwargs) -> github.GitHubClient:
    return github.GitHubClient(
        token=token, timeout=5, cache_dir=tmp_path / "cache", clock=lambda: NOW, **kwargs
    )


@pytest.mark.vcr("github_search.yaml")
def test_search_merges_topics_by_stars(vcr, tmp_path):
    entries = github.fetch_repositories(CONFIG, TODAY, client(tmp_path))
    assert vcr.play_count == 3  # one search per topic
    assert [(e["name"], e["stars"]) for e in entries] == [
        ("huggingface/transformers", 152034),
        ("pytorch/pytorch", 95012),
        ("ggml-org/llama.cpp", 88010),
        ("keras-team/keras", 63201),
        ("acme/agent-kit", 3120),
        ("tiny/nodesc", 50),
    ]
    agent = next(e for e in entries if e["name"] == "acme/agent-kit")
    assert agent["description"] == "Build | test | ship LLM agents\nin one file"
    assert agent["created_at"] == "2026-11-17T10:00:00Z" and agent["language"] == "TypeScript"
    assert next(e for e in entries if e["name"] == "tiny/nodesc")["description"] == ""


def test_requests_carry_the_documented_headers(tmp_path):
    sent_requests = []

    def capture(outgoing, recorded):  # a matcher sees each request as our code sent it
        sent_requests.append(outgoing)
        return True

    recorder = vcrpy.VCR(record_mode="none", cassette_library_dir=str(CASSETTES))
    recorder.register_matcher("capture", capture)
    with recorder.use_cassette("github_search.yaml", match_on=["method", "uri", "capture"]):
        github.fetch_repositories(CONFIG, TODAY, client(tmp_path, token="ghp_test"))
    sent = sent_requests[0]
    assert sent.headers["Accept"] == "application/vnd.github+json"
    assert sent.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert sent.headers["User-Agent"].startswith("mailer-newsletter")
    assert sent.headers["Authorization"] == "Bearer ghp_test"
    assert "topic:machine-learning pushed:>=2026-11-15 archived:false" in unquote_plus(sent.uri)


def test_etag_is_sent_back_and_304_reuses_the_cached_body(tmp_path):
    # A matcher on If-None-Match: the 304 interaction only plays if our second request carries it.
    recorder = vcrpy.VCR(record_mode="none", cassette_library_dir=str(CASSETTES))
    recorder.register_matcher(
        "if_none_match",
        lambda r1, r2: r1.headers.get("If-None-Match") == r2.headers.get("If-None-Match"),
    )
    config = GitHubConfig(topics=("machine-learning",), count=3, pushed_within_days=7, scan=50)
    with recorder.use_cassette(
        "github_etag.yaml", match_on=["method", "uri", "if_none_match"]
    ) as cassette:
        first = github.fetch_repositories(config, TODAY, client(tmp_path))
        second = github.fetch_repositories(config, TODAY, client(tmp_path))
        assert cassette.all_played
    assert second == first and len(first) == 3


@pytest.mark.vcr("github_rate_limited.yaml")
def test_primary_rate_limit_says_when_it_resets(vcr, tmp_path):
    with pytest.raises(RateLimitedError) as info:
        github.fetch_repositories(CONFIG, TODAY, client(tmp_path))
    assert info.value.resets_at == dt.datetime(2026, 11, 22, 19, 25, tzinfo=dt.UTC)
    assert str(info.value) == (
        "github: GitHub rate limit exhausted; it resets at 19:25 UTC (in 12 min); "
        "set GITHUB_TOKEN for a higher limit"
    )


@pytest.mark.vcr("github_rate_limited.yaml")
def test_rate_limit_with_a_token_does_not_suggest_one(vcr, tmp_path):
    with pytest.raises(RateLimitedError) as info:
        github.fetch_repositories(CONFIG, TODAY, client(tmp_path, token="ghp_test"))
    assert "GITHUB_TOKEN" not in str(info.value)


@pytest.mark.vcr("github_secondary_limit.yaml")
def test_secondary_rate_limit_uses_retry_after(vcr, tmp_path):
    with pytest.raises(
        RateLimitedError, match=r"secondary rate limit .*it resets at 19:14 UTC \(in 60 s\)"
    ):
        github.fetch_repositories(CONFIG, TODAY, client(tmp_path))


@pytest.mark.vcr("github_server_error.yaml")
def test_server_error(vcr, tmp_path):
    with pytest.raises(SourceUnavailableError, match="api.github.com answered HTTP 502"):
        github.fetch_repositories(CONFIG, TODAY, client(tmp_path))


@pytest.mark.vcr("github_malformed.yaml")
def test_malformed_json(vcr, tmp_path):
    with pytest.raises(SourceDataError, match="not valid JSON"):
        github.fetch_repositories(CONFIG, TODAY, client(tmp_path))


@pytest.mark.vcr("github_empty.yaml")
def test_empty_result(vcr, tmp_path):
    with pytest.raises(
        EmptyResultError, match="no repositories with topics machine-learning, llm, deep-learning"
    ):
        github.fetch_repositories(CONFIG, TODAY, client(tmp_path))


class _TimeoutAdapter(requests.adapters.BaseAdapter):
    def __init__(self):
        super().__init__()
        self.timeouts = []

    def send(self, request, timeout=None, **kwargs):
        self.timeouts.append(timeout)
        raise requests.ReadTimeout("read timed out")

    def close(self):
        pass


def test_timeout_is_bounded_and_reported(tmp_path):
    session = requests.Session()
    adapter = _TimeoutAdapter()
    session.mount("https://", adapter)
    with pytest.raises(SourceUnavailableError) as info:
        github.fetch_repositories(CONFIG, TODAY, client(tmp_path, session=session))
    assert adapter.timeouts == [(5.0, 5)]  # (connect, read), one attempt
    assert (
        str(info.value)
        == "github: no answer from api.github.com within 5 s; check the network or try again later"
    )


def test_shape_without_items(tmp_path):
    session = requests.Session()

    class Adapter(requests.adapters.BaseAdapter):
        def send(self, request, **kwargs):
            response = requests.Response()
            response.status_code, response._content, response.url = (
                200,
                b'{"message": "odd"}',
                request.url,
            )
            return response

        def close(self):
            pass

    session.mount("https://", Adapter())
    with pytest.raises(SourceDataError, match="did not return an 'items' list"):
        github.fetch_repositories(CONFIG, TODAY, client(tmp_path, session=session))


def test_without_a_cassette_the_guard_stops_the_request(tmp_path):
    with pytest.raises((NetworkBlocked, SourceUnavailableError), match="api.github.com"):
        github.fetch_repositories(CONFIG, TODAY, client(tmp_path))
