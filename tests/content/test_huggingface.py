"""Hugging Face source: cassettes in the Hub's response shape, and each failure as one clear error.

huggingface_hub 2.x sends through `httpx2` (one shared `httpx2.Client`); vcrpy 9.4 patches
`httpx2.HTTPTransport.handle_request`, and our fail-fast transport wraps an `httpx2.HTTPTransport`,
so cassettes answer the real request path. The autouse `no_network` guard proves nothing leaves.
"""

from __future__ import annotations

import datetime as dt

import httpx2
import pytest
from huggingface_hub import constants

from mailer.content import huggingface as hf
from mailer.content.source_errors import (
    EmptyResultError,
    RateLimitedError,
    SourceDataError,
    SourceError,
    SourceUnavailableError,
)
from tests.content.conftest import NetworkBlocked

NOW = dt.datetime(2026, 11, 22, 19, 0, tzinfo=dt.UTC)


@pytest.mark.vcr("hf_trending.yaml")
def test_models_come_from_the_cassette_through_httpx2(vcr):
    entries = hf.fetch_models(50)
    assert vcr.play_count == 1
    assert [e["id"] for e in entries] == [
        "moonshotai/Kimi-K2-Thinking",
        "unsloth/Qwen3-4B-Instruct-2507-GGUF",
        "black-forest-labs/FLUX.2-dev",
        "openai/whisper-large-v3-turbo",
        "HuggingFaceTB/SmolLM3-3B",
    ]
    assert entries[1] == {
        "id": "unsloth/Qwen3-4B-Instruct-2507-GGUF",
        "task": "text-generation",
        "likes": 388,
        "downloads": 96512,
        "library": "gguf",
        "created_at": "2026-10-28T17:02:44Z",
        "last_modified": "2026-11-18T09:12:10Z",
        "trending_score": 455,
        "params": 4022468096,
        "gguf": True,
    }
    assert entries[0]["params"] == 1026408232448 and entries[0]["gguf"] is False
    assert entries[2]["params"] is None  # neither safetensors nor gguf metadata


@pytest.mark.vcr("hf_trending.yaml")
def test_datasets_take_their_task_from_task_categories_tags(vcr):
    entries = hf.fetch_datasets(50)
    assert vcr.play_count == 1
    assert [(e["id"], e["task"], e["likes"]) for e in entries] == [
        ("HuggingFaceFW/finepdfs", "text-generation", 512),
        ("nvidia/Nemotron-Post-Training-Dataset-v2", "question-answering", 233),
        ("someone/untagged-corpus", "", 41),
    ]


def test_without_a_cassette_the_guard_stops_the_request():
    """The network guard is live: an unrecorded fetch fails instead of reaching huggingface.co."""
    with pytest.raises(NetworkBlocked, match="huggingface.co"):
        hf.fetch_models(5, timeout=2)


@pytest.mark.vcr("hf_trending.yaml")
def test_a_request_the_cassette_does_not_hold_is_refused_not_sent(vcr):
    from vcr.errors import CannotOverwriteExistingCassetteException

    with pytest.raises(CannotOverwriteExistingCassetteException):
        hf.fetch_models(7)  # limit=7 is not in the cassette


@pytest.mark.vcr("hf_rate_limited.yaml")
def test_rate_limit_says_when_it_resets(vcr):
    transport = hf.FailFastTransport(hf.MODELS, 15, clock=lambda: NOW)
    with pytest.raises(RateLimitedError) as info:
        hf.fetch_models(50, transport=transport)
    assert vcr.play_count == 1  # not retried: huggingface_hub would sleep and retry five times
    assert info.value.resets_at == NOW + dt.timedelta(seconds=212)
    assert str(info.value) == (
        "huggingface-models: Hugging Face rate limit reached; it resets at 19:04 UTC "
        "(in 4 min); set HF_TOKEN for a higher limit"
    )


@pytest.mark.vcr("hf_server_error.yaml")
def test_server_error_fails_at_once(vcr):
    with pytest.raises(
        SourceUnavailableError, match="huggingface.co answered HTTP 503 .*try again later"
    ):
        hf.fetch_models(50)
    assert vcr.play_count == 1


@pytest.mark.vcr("hf_malformed.yaml")
def test_malformed_json(vcr):
    with pytest.raises(SourceDataError, match="not valid JSON"):
        hf.fetch_models(50)


@pytest.mark.vcr("hf_empty.yaml")
def test_empty_result(vcr):
    with pytest.raises(EmptyResultError, match="no trending entries"):
        hf.fetch_models(50)


def _mock(handler) -> httpx2.MockTransport:
    return httpx2.MockTransport(handler)


def test_timeout_is_bounded_and_not_retried():
    calls = []

    def handler(request):
        calls.append(request)
        raise httpx2.ReadTimeout("timed out", request=request)

    with pytest.raises(SourceUnavailableError) as info:
        hf.fetch_models(5, timeout=3, transport=_mock(handler))
    assert len(calls) == 1
    assert str(info.value) == (
        "huggingface-models: no answer from huggingface.co within 3 s; "
        "check the network or try again later"
    )


def test_the_client_carries_our_timeout_and_is_restored_afterwards():
    import huggingface_hub

    seen = {}

    def handler(request):
        seen["timeout"] = request.extensions.get("timeout")
        return httpx2.Response(200, json=[{"_id": "1", "id": "a/b", "likes": 1}])

    hf.fetch_models(5, timeout=4, transport=_mock(handler))
    # HfApi passes timeout=None per request; the transport puts our bound back on it.
    assert seen["timeout"] == {"connect": 4.0, "read": 4.0, "write": 4.0, "pool": 4.0}
    assert huggingface_hub.get_session().timeout.read is None  # the library's own client is back


def test_shape_errors_and_refusals():
    with pytest.raises(SourceDataError, match="documented shape"):
        hf.fetch_models(5, transport=_mock(lambda r: httpx2.Response(200, json={"error": "nope"})))
    with pytest.raises(SourceError, match="HTTP 401; check HF_TOKEN"):
        hf.fetch_models(
            5,
            transport=_mock(lambda r: httpx2.Response(401, json={"error": "Invalid credentials"})),
        )


def test_offline_mode_is_reported(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(SourceUnavailableError, match="HF_HUB_OFFLINE"):
        hf.fetch_models(5)
