"""Fixtures for the trending tests: a network guard, cassettes, databases, a list and snapshots."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from pathlib import Path

import pytest

from mailer.content.lists import load_list
from mailer.store.db import make_engine, session_factory, upgrade
from tests.conftest import DB_KINDS

ROOT = Path(__file__).resolve().parents[2]
CASSETTES = ROOT / "tests" / "cassettes"
TODAY = dt.date(2026, 11, 22)


class NetworkBlocked(RuntimeError):
    """A test tried to reach a host that is not this machine."""


def _loopback(host: object) -> bool:
    if host in ("localhost", None, ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any DNS lookup or connect that leaves this machine (PostgreSQL on 127.0.0.1 is fine)."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise NetworkBlocked(f"test tried to connect to {address}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _loopback(host):
            raise NetworkBlocked(f"test tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture
def vcr_config() -> dict:
    # Never record: a request the cassette does not hold is an error, not a trip to the internet.
    return {"record_mode": "none"}


def pytest_generate_tests(metafunc):
    """Tests that use the database run on SQLite and (when configured) PostgreSQL, through the
    shared
    `database_url` / `engine` / `factory` fixtures of tests/conftest.py."""
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", DB_KINDS, indirect=True)


@pytest.fixture
def sqlite_factory(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path}/s.db")
    upgrade(eng)
    yield session_factory(eng)
    eng.dispose()


@pytest.fixture
def list_def():
    return load_list(ROOT / "lists", "ai-morning-post")


def model(
    ident: str,
    likes: int,
    task: str = "text-generation",
    params: int | None = None,
    gguf: bool = False,
    downloads: int = 100,
) -> dict:
    return {
        "id": ident,
        "task": task,
        "likes": likes,
        "downloads": downloads,
        "library": "transformers",
        "created_at": "2026-11-01T00:00:00Z",
        "last_modified": "2026-11-20T00:00:00Z",
        "trending_score": 10,
        "params": params,
        "gguf": gguf,
    }


def dataset(ident: str, likes: int, task: str = "text-generation") -> dict:
    return {
        "id": ident,
        "task": task,
        "likes": likes,
        "downloads": 10,
        "created_at": "2026-10-01T00:00:00Z",
        "last_modified": "2026-11-20T00:00:00Z",
        "trending_score": 3,
    }


def repo(
    name: str, stars: int, created: str = "2025-01-01T00:00:00Z", description: str = "A repository"
) -> dict:
    return {
        "name": name,
        "description": description,
        "stars": stars,
        "forks": 1,
        "language": "Python",
        "topics": ["llm"],
        "created_at": created,
        "pushed_at": "2026-11-21T00:00:00Z",
    }


# Two hand-made weeks with known answers (see test_trending.py).
WEEK_AGO = {
    "huggingface-models": [model("a/alpha", 100), model("b/beta", 50), model("c/gamma", 10)],
    "huggingface-datasets": [dataset("d/data", 5)],
    "github": [repo("o/big", 10_000), repo("o/mid", 2_000), repo("o/small", 100)],
}
NOW = {
    "huggingface-models": [
        model("a/alpha", 160, params=7_000_000_000),  # +60 likes
        model("b/beta", 450, params=1_500_000_000, gguf=True),  # +400 likes
        model(
            "n/newcomer", 900, task="text-to-image", params=2_000_000_000, gguf=True
        ),  # no week-ago row
        model("c/gamma", 8, task="automatic-speech-recognition"),  # lost likes: never a mover
    ],
    "huggingface-datasets": [dataset("d/data", 35), dataset("e/fresh", 70)],  # +30
    "github": [
        repo("o/big", 10_900),  # +900 stars
        repo("o/mid", 2_150),  # +150
        repo("o/fresh", 700, created="2026-11-18T09:00:00Z"),  # new this week, no week-ago row
        repo("o/small", 100),  # +0
    ],
}
