"""The [archive] and [analytics] tables of a list file: defaults when absent, and every bad value is
one line naming the file, the key and how to fix it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mailer.content.lists import AnalyticsSettings, ArchiveSettings, load_list, parse_list
from mailer.errors import ContentError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "lists" / "ai-morning-post.toml"


def parsed(**tables):
    data = tomllib.loads(SHIPPED.read_text(encoding="utf-8"))
    data.update(tables)
    return parse_list(SHIPPED, data)


def test_absent_tables_are_the_defaults():
    shipped = load_list(ROOT / "lists", "ai-morning-post")
    assert shipped.archive == ArchiveSettings()
    assert shipped.analytics == AnalyticsSettings(False, 10, False)


def test_good_tables_are_read():
    got = parsed(
        archive={"static_dir": "/var/www/post", "public_url": "https://archive.example.com/"},
        analytics={"clicks": True, "scanner_window_seconds": 30, "order_by_clicks": True},
    )
    assert got.archive == ArchiveSettings(Path("/var/www/post"), "https://archive.example.com")
    assert got.analytics == AnalyticsSettings(True, 30, True)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ({"archive": "site"}, r"\[archive\]: must be a table"),
        ({"archive": {"static": "x"}}, r"unknown field\(s\) static; known: public_url, static_dir"),
        ({"archive": {"static_dir": ""}}, r"archive\.static_dir': must be a folder path"),
        ({"archive": {"static_dir": 3}}, r"archive\.static_dir'"),
        ({"archive": {"public_url": "archive.example.com"}}, r"archive\.public_url': must be"),
        ({"archive": {"public_url": "ftp://x.example"}}, r"archive\.public_url'"),
        ({"analytics": []}, r"\[analytics\]: must be a table"),
        ({"analytics": {"click": True}}, r"unknown field\(s\) click"),
        ({"analytics": {"clicks": "yes"}}, r"analytics\.clicks': must be true or false"),
        ({"analytics": {"order_by_clicks": 1}}, r"analytics\.order_by_clicks'"),
        ({"analytics": {"scanner_window_seconds": -1}}, r"scanner_window_seconds': must be"),
        ({"analytics": {"scanner_window_seconds": True}}, r"scanner_window_seconds'"),
        ({"analytics": {"scanner_window_seconds": 10.5}}, r"scanner_window_seconds'"),
        ({"analytics": {"scanner_window_seconds": 3601}}, r"from 0 to 3600"),
    ],
)
def test_a_bad_value_is_one_line_naming_file_and_key(tables, message):
    with pytest.raises(ContentError, match=message) as caught:
        parsed(**tables)
    assert str(SHIPPED) in str(caught.value) and "\n" not in str(caught.value)
