"""`mailer lint`: the seed issues pass; one crafted failing issue per check."""

from __future__ import annotations

import dataclasses

import pytest

from mailer import lint as L
from mailer.render import RenderedIssue, render_issue, render_sources

from .conftest import BASE_URL, LIST


def run_lint(content, base_url=BASE_URL, list_def=LIST):
    sources = render_sources(content, list_def, base_url)
    rendered = render_issue(content, list_def, base_url, strict=False)
    return L.lint(content, list_def, base_url, sources, rendered)


def errors(findings, check):
    return [f for f in findings if f.level == "error" and f.check == check]


@pytest.mark.parametrize("index", range(5))
def test_every_seed_issue_passes(seed_contents, index):
    # without snapshots, no seed has movers: the only findings are warnings about sections left out
    findings = run_lint(seed_contents[index])
    assert [f.line() for f in findings if f.check != "left-out"] == []
    assert {f.level for f in findings} <= {"warning"}


def test_size_over_the_clip_limit(seed_contents):
    content = seed_contents[0]
    long = dataclasses.replace(content.deep_dive, paragraphs=content.deep_dive.paragraphs * 30)
    assert errors(run_lint(dataclasses.replace(content, deep_dive=long)), "size")


def test_missing_unsubscribe_placeholder():
    rendered = RenderedIssue(subject="s", preheader="p", html="<a href='%%MANAGE_URL%%'>m</a>", text="x")
    assert len(L.check_unsubscribe(rendered)) == 2


def test_relative_and_http_links(seed_contents):
    content = seed_contents[0]
    items = (*content.reading_items[:2], dataclasses.replace(content.reading_items[2], url="http://plain.example/x"))
    found = errors(run_lint(dataclasses.replace(content, reading_items=items)), "links")
    assert found and "not https" in found[0].message
    assert errors(run_lint(content, base_url=""), "links")  # relative: /archive/..., /subscribe/...


def test_image_without_alt():
    found = L.check_images('<img src="https://x.example/a.png"><img src="https://x.example/b.png" alt="" role="presentation">')
    assert len(found) == 1 and "a.png" in found[0].message


def test_unresolved_placeholder_and_template_syntax(seed_contents):
    content = seed_contents[0]
    found = run_lint(dataclasses.replace(content, dek="Hello %%FIRST_NAME%% and {{ subscriber.name }}"))
    assert errors(found, "placeholders") and errors(found, "template")


def test_empty_section(seed_contents):
    found = run_lint(dataclasses.replace(seed_contents[0], reading_items=()))
    assert [f.message for f in errors(found, "empty-section")] == ["section 'Weekend Reading' has a heading and nothing under it"]


def test_computed_sections_without_data_are_warnings_not_errors(seed_contents):
    content = dataclasses.replace(seed_contents[0], hf_models=(), mover_items=(), figures=(), github_repos=(),
                                  tool_items=())
    found = run_lint(content)
    assert [f.message for f in found if f.check == "left-out"] == [
        f"section {title!r} has no data and is left out of the mail"
        for title in (content.metrics.title, content.trending.title, content.movers.title)]
    assert [f.level for f in found if f.check == "left-out"] == ["warning"] * 3
    assert [f.message for f in errors(found, "empty-section")] == ["section 'Tools of the Week' has a heading and nothing under it"]


def test_mjml_warnings():
    found = L.check_mjml('<mjml><mj-body><mj-sektion></mj-sektion><mj-text colour="red">x</mj-text></mj-body></mjml>')
    assert [f.message for f in found] == ["unknown element <mj-sektion>", "<mj-text> has unknown attribute 'colour'"]


def test_cli_exits_1_on_errors(tmp_path):
    from click.testing import CliRunner

    from mailer.cli import cli

    runner = CliRunner()
    ok = runner.invoke(cli, ["lint", "--issue", "2026-11-20"], env={"MAILER_BASE_URL": BASE_URL})
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(cli, ["lint", "--issue", "2026-11-20"], env={"MAILER_BASE_URL": "http://127.0.0.1:8000"})
    assert bad.exit_code == 1 and "not https" in bad.output
