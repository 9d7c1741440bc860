"""The [welcome] and [digest] tables of a list file: off when absent, read when given, and every bad
value one line naming the file and the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mailer.content.lists import DigestSettings, WelcomeSettings, load_list, parse_list
from mailer.errors import ContentError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "lists" / "ai-morning-post.toml"


def parsed(**tables):
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    data.update(tables)
    return parse_list(SHIPPED, data)


def test_absent_tables_are_off():
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    data.pop("welcome", None)
    data.pop("digest", None)
    got = parse_list(SHIPPED, data)
    assert got.welcome == WelcomeSettings(False, "", "")
    assert got.digest == DigestSettings(False, "sun", "")
    load_list(ROOT / "lists", "ai-morning-post")  # the shipped file reads


def test_good_tables_are_read():
    got = parsed(
        welcome={"enabled": True, "subject": " Welcome aboard ", "intro": "Glad you came."},
        digest={"enabled": True, "day": "Sat", "subject": "The week in AI"},
    )
    assert got.welcome == WelcomeSettings(True, "Welcome aboard", "Glad you came.")
    assert got.digest == DigestSettings(True, "sat", "The week in AI")


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"welcome": "yes"}, r"\[welcome\]: must be a table"),
        ({"welcome": {"enable": True}}, r"\[welcome\]: unknown field\(s\) enable; known: enabled"),
        ({"welcome": {"enabled": "yes"}}, r"'welcome.enabled': must be true or false"),
        ({"welcome": {"subject": 3}}, r"'welcome.subject': must be a string"),
        ({"digest": {"day": "sunday"}}, r"'digest.day': must be one of mon, tue"),
        ({"digest": {"enabled": 1}}, r"'digest.enabled': must be true or false"),
    ],
)
def test_bad_values_name_the_file_and_key(tables, message):
    with pytest.raises(ContentError, match=message) as caught:
        parsed(**tables)
    assert "ai-morning-post.toml" in str(caught.value)
