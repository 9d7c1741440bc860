"""Fixtures for rendering tests: the list, the five seed issues rendered once, hostile
subscribers."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from mailer.content.issue_file import load_issue
from mailer.content.lists import load_list
from mailer.content.load import issue_defaults
from mailer.render.issue import render_issue

REPO = Path(__file__).resolve().parents[2]
LIST = load_list(REPO / "lists", "ai-morning-post")
SEEDS = sorted((REPO / "issues" / "ai-morning-post").glob("*.md"))
BASE_URL = "https://news.example"
ARTIFACTS = REPO / "test-artifacts"

HOSTILE_NAMES = [
    "",
    "Ada Lovelace",
    "Lamarr, Hedy",
    'Tim "TimBL" Berners-Lee',
    "José Núñez",
    "Søren Ølgaard",
    "Eve\r\nBcc: victim@example.com",
    "Mallory <mallory@evil.example>",
    "A & B <c>",
    "nul\x00byte",
    "=?utf-8?q?encoded=3F?=",
    "Back\\slash",
    'Ünïcödé, "quoted" <and> & more\n',
    "王小明",
    "🙂 emoji 👩‍💻",
    "x" * 300,
    "é" * 120,
    "  spaced   out  ",
    "tab\there",
    "semi;colon:colon",
    "(comment) name",
    "line\u2028separator",
    "zero\u200bwidth",
    "right\u202eto-left",
    "dot.ted J. Name",
    "%%GREETING%%",
    "{{ issue.subject }}",
    "<script>alert(1)</script>",
    "O'Brien",
    "a" * 45 + "é" * 3,
    "😀" * 250,
]


def make_subscribers(n: int, seed: int = 6) -> list[tuple[str, str]]:
    """(email, name) pairs: every hostile name, then random mixes of letters, scripts and
    specials."""
    rnd = random.Random(seed)
    alphabet = list("abcdefghij ABC.,\"'<>&;:()\\@=?%") + [
        "é",
        "ß",
        "Ω",
        "中",
        "😀",
        "\r",
        "\n",
        "\x00",
        "\t",
    ]
    people = []
    for i in range(n):
        if i < len(HOSTILE_NAMES):
            name = HOSTILE_NAMES[i]
        else:
            name = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 60)))
        people.append((f"reader{i}@example{i % 7}.com", name))
    return people


@pytest.fixture(scope="session")
def seed_contents():
    return [load_issue(path, issue_defaults(LIST)) for path in SEEDS]


@pytest.fixture(scope="session")
def seed_renders(seed_contents):
    return [render_issue(content, LIST, BASE_URL) for content in seed_contents]
