"""The five shipped issues load, render, and every section's text reaches both parts; bad files fail
clearly."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from mailer.content.issue_file import load_issue, parse_issue
from mailer.content.lists import load_list
from mailer.content.load import issue_defaults
from mailer.errors import ContentError
from mailer.render.issue import render_issue
from tests.conftest import REPO

ISSUES = sorted((REPO / "issues" / "ai-morning-post").glob("*.md"))
LIST = load_list(REPO / "lists", "ai-morning-post")


def section_texts(issue) -> list[str]:
    """Every editor-visible string of an issue: what must appear in the mail. The headings of
    computed
    sections without data are not: the mail leaves those sections out (lint warns)."""
    texts = [
        issue.masthead,
        issue.tagline,
        issue.headline,
        issue.dek,
        *issue.lead,
        issue.metrics.title,
        issue.deep_dive.title,
        *issue.deep_dive.paragraphs,
        issue.opinion_heading,
        issue.tools.title,
        issue.tools.intro,
        issue.trending.title,
        issue.trending.intro,
        issue.hf_heading if issue.hf_models else "",
        issue.github_heading,
        issue.movers.title if issue.mover_items else "",
        issue.reading.title,
        issue.cta.title,
        issue.cta.text,
        issue.cta.button_label,
        issue.cta.qr_caption,
    ]
    for op in issue.opinions:
        texts += [op.title, *op.paragraphs]
    for item in (*issue.tool_items, *issue.reading_items):
        texts += [item.title, item.text]
    for model in issue.hf_models:
        texts += [model.id, model.task]
    for repo in issue.github_repos:
        texts += [repo.name, repo.description]
    return [t for t in texts if t]


def visible_html(markup: str) -> str:
    """HTML text content with tags removed and entities decoded, whitespace collapsed."""
    no_tags = re.sub(r"<[^>]+>", " ", markup)
    return " ".join(html.unescape(no_tags).split())


def test_five_seed_issues_are_shipped_with_consecutive_dates():
    assert [p.stem for p in ISSUES] == [
        "2026-11-18",
        "2026-11-19",
        "2026-11-20",
        "2026-11-21",
        "2026-11-22",
    ]


@pytest.mark.parametrize("path", ISSUES, ids=lambda p: p.stem)
def test_issue_keeps_every_section(path):
    issue = load_issue(path, issue_defaults(LIST))
    assert issue.masthead == "The AI Morning Post"
    assert issue.tagline == "Artificial Intelligence • Machine Learning • Future Tech"
    assert len(issue.lead) == 3
    assert issue.metrics.title in ("Specialization Metrics", "By the Numbers")
    assert len(issue.deep_dive.paragraphs) == 4
    assert len(issue.opinions) == 2 and all(len(op.paragraphs) == 2 for op in issue.opinions)
    assert len(issue.tool_items) == 4
    assert issue.trending.title == "Trending: What's Gaining Momentum"
    assert len(issue.github_repos) == 6
    assert issue.github_repos[0].name == "huggingface/transformers"
    assert issue.movers.title == "Biggest Movers This Week"
    assert len(issue.reading_items) == 3
    assert issue.cta.title == "Subscribe to AI Morning Post"
    assert issue.cta.qr_caption.startswith("Scan to ")


def test_the_one_seed_with_a_hugging_face_entry_keeps_it():
    issue = load_issue(ISSUES[1], issue_defaults(LIST))
    assert [(m.id, m.task) for m in issue.hf_models] == [
        (
            "zacdan4801/wav2vec2-lv-60-espeak-cv-ft-custom_vocab-ds-f5",
            "automatic-speech-recognition",
        )
    ]


@pytest.mark.parametrize("path", ISSUES, ids=lambda p: p.stem)
def test_every_section_text_is_in_html_and_text(path):
    issue = load_issue(path, issue_defaults(LIST))
    rendered = render_issue(issue, LIST, "https://news.example")
    page, plain = rendered.personalize(
        {
            "GREETING": "Hi",
            "UNSUBSCRIBE_URL": "https://u.example/x",
            "MANAGE_URL": "https://m.example/x",
        }
    )
    page_text = visible_html(page)
    plain_text = " ".join(plain.split())
    for text in section_texts(issue):
        flat = " ".join(text.split())
        assert flat in page_text, f"HTML misses {flat[:60]!r}"
        assert flat in plain_text, f"text part misses {flat[:60]!r}"
    assert rendered.subject == issue.subject
    assert "%%" not in page and "%%" not in plain


def test_html_keeps_the_phone_layout_and_inlines_styles():
    rendered = render_issue(
        load_issue(ISSUES[0], issue_defaults(LIST)), LIST, "https://news.example"
    )
    assert "@media only screen and (min-width:480px)" in rendered.html
    assert '<html lang="en"' in rendered.html
    assert re.search(r'<td[^>]+style="[^"]*padding', rendered.html)


def test_subscriber_values_are_escaped_in_html_and_raw_in_text():
    rendered = render_issue(
        load_issue(ISSUES[0], issue_defaults(LIST)), LIST, "https://news.example"
    )
    page, plain = rendered.personalize(
        {"GREETING": 'Hi <b>&"x"', "UNSUBSCRIBE_URL": "https://u/1", "MANAGE_URL": "https://m/1"}
    )
    assert "Hi &lt;b&gt;&amp;&quot;x&quot;" in page and "<b>&" not in page
    assert 'Hi <b>&"x"' in plain


GOOD = (ISSUES[0]).read_text(encoding="utf-8")


def _broken(old: str, new: str, count: int = 1) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, count)


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("no front matter\n", 1, "must start with a '---'"),
        (_broken("date: 2026-11-18", "date: 18/11/2026"), 3, "date must be a date like"),
        (_broken("list: ai-morning-post\n", ""), 1, "missing 'list:'"),
        (_broken("subject:", "subjet:"), 4, "unknown front matter key 'subjet'"),
        (
            _broken("## Tools: Tools of the Week", "## Toolz: Tools of the Week"),
            None,
            "unknown section kind 'Toolz'",
        ),
        (
            _broken("- GGUF Converter 2.1 | Streamlines", "- GGUF Converter 2.1 | | Streamlines"),
            None,
            "list item must be",
        ),
        (_broken("## Reading: Weekend Reading\n", ""), None, "missing section(s): ## Reading"),
        (
            _broken("- huggingface/transformers |", "- not a repo |"),
            None,
            "not a GitHub repository name",
        ),
        (
            _broken("- Subscribe Now", "- Subscribe Now | http://insecure.example/x"),
            None,
            "must be an absolute https://",
        ),
        (_broken("qr: Scan to subscribe on mobile", ""), None, "needs a 'qr: caption' line"),
    ],
)
def test_malformed_issue_is_reported_with_file_and_line(tmp_path, text, line, fragment):
    path = tmp_path / "2026-11-18.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ContentError) as err:
        load_issue(path)
    message = str(err.value)
    assert fragment in message
    assert message.startswith(str(path))
    if line is not None:
        assert message.startswith(f"{path}:{line}:")
    else:
        # the line is found by the parser: it must point at the offending line of the file
        reported = re.match(rf"{re.escape(str(path))}:(\d+):", message)
        if reported:
            assert 1 <= int(reported.group(1)) <= len(text.splitlines())


def test_line_number_points_at_the_bad_item(tmp_path):
    text = _broken("- GGUF Converter 2.1 | Streamlines", "- GGUF Converter 2.1 | | Streamlines")
    bad_line = next(i for i, line in enumerate(text.splitlines(), 1) if "| | Streamlines" in line)
    with pytest.raises(ContentError, match=rf":{bad_line}: list item must be"):
        parse_issue(Path("x.md"), text)


def test_file_name_and_date_must_agree(tmp_path):
    path = tmp_path / "2026-11-19.md"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(
        ContentError, match="file name says 2026-11-19 but front matter date is 2026-11-18"
    ):
        load_issue(path)


def test_non_utf8_file_is_a_clear_error(tmp_path):
    path = tmp_path / "2026-11-18.md"
    path.write_bytes(GOOD.encode("utf-8").replace("•".encode(), b"\x95") + b"\xff")
    with pytest.raises(ContentError, match="not UTF-8"):
        load_issue(path)
