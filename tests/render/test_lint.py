"""`mailer lint`: the seed issues pass; one crafted failing issue per check."""

from __future__ import annotations

import dataclasses

import pytest

from mailer.render import lint as L
from mailer.render.issue import RenderedIssue, render_issue, render_sources
from tests.render.conftest import BASE_URL, LIST, SEEDS


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
    rendered = RenderedIssue(
        subject="s", preheader="p", html="<a href='%%MANAGE_URL%%'>m</a>", text="x"
    )
    assert len(L.check_unsubscribe(rendered)) == 2


def test_relative_and_http_links(seed_contents):
    content = seed_contents[0]
    items = (
        *content.reading_items[:2],
        dataclasses.replace(content.reading_items[2], url="http://plain.example/x"),
    )
    found = errors(run_lint(dataclasses.replace(content, reading_items=items)), "links")
    assert found and "not https" in found[0].message
    assert errors(run_lint(content, base_url=""), "links")  # relative: /archive/..., /subscribe/...


def test_image_without_alt():
    found = L.check_images(
        '<img src="https://x.example/a.png"><img src="https://x.example/b.png" alt="" '
        'role="presentation">'
    )
    assert len(found) == 1 and "a.png" in found[0].message


def test_unresolved_placeholder_and_template_syntax(seed_contents):
    content = seed_contents[0]
    found = run_lint(
        dataclasses.replace(content, dek="Hello %%FIRST_NAME%% and {{ subscriber.name }}")
    )
    assert errors(found, "placeholders") and errors(found, "template")


def test_empty_section(seed_contents):
    found = run_lint(dataclasses.replace(seed_contents[0], reading_items=()))
    assert [f.message for f in errors(found, "empty-section")] == [
        "section 'Weekend Reading' has a heading and nothing under it"
    ]


def test_computed_sections_without_data_are_warnings_not_errors(seed_contents):
    content = dataclasses.replace(
        seed_contents[0], hf_models=(), mover_items=(), figures=(), github_repos=(), tool_items=()
    )
    found = run_lint(content)
    assert [f.message for f in found if f.check == "left-out"] == [
        f"section {title!r} has no data and is left out of the mail"
        for title in (content.metrics.title, content.trending.title, content.movers.title)
    ]
    assert [f.level for f in found if f.check == "left-out"] == ["warning"] * 3
    assert [f.message for f in errors(found, "empty-section")] == [
        "section 'Tools of the Week' has a heading and nothing under it"
    ]


def test_mjml_warnings():
    found = L.check_mjml(
        '<mjml><mj-body><mj-sektion></mj-sektion><mj-text colour="red">x</mj-text></mj-body></mjml>'
    )
    assert [f.message for f in found] == [
        "unknown element <mj-sektion>",
        "<mj-text> has unknown attribute 'colour'",
    ]


def test_cli_exits_1_on_errors(tmp_path):
    from click.testing import CliRunner

    from mailer.cli import cli

    runner = CliRunner()
    ok = runner.invoke(cli, ["lint", "--issue", "2026-11-20"], env={"MAILER_BASE_URL": BASE_URL})
    assert ok.exit_code == 0, ok.output
    local = {"MAILER_BASE_URL": "http://127.0.0.1:8000"}
    bad = runner.invoke(
        cli, ["lint", "--issue", "2026-11-20"], env={**local, "MAILER_TRANSPORT": "ses"}
    )
    assert (
        bad.exit_code == 1
        and "error: [base-url] MAILER_BASE_URL 'http://127.0.0.1:8000'" in bad.output
    )
    outbox = runner.invoke(
        cli, ["lint", "--issue", "2026-11-20"], env={**local, "MAILER_TRANSPORT": "file"}
    )
    assert outbox.exit_code == 0 and "warning: [base-url] MAILER_BASE_URL" in outbox.output, (
        outbox.output
    )
    assert "0 error(s)" in outbox.output
    assert (
        outbox.output.count("[base-url]") == 1
    )  # the base URL once, not once per link (left-out sections add their own)


@pytest.mark.parametrize(
    "base_url, local_outbox, level",
    [
        ("https://news.example", False, None),
        ("http://news.example", False, "error"),
        ("https://localhost:8443", False, "error"),
        ("http://127.0.0.1:8000", False, "error"),
        ("http://127.0.0.1:8000", True, "warning"),
        ("http://news.example", True, "warning"),
    ],
)
def test_base_url_must_be_public_https_for_a_real_transport(base_url, local_outbox, level):
    found = L.check_base_url(base_url, local_outbox)
    assert [f.level for f in found] == ([level] if level else [])
    assert all("MAILER_BASE_URL" in f.message and "https" in f.message for f in found)


def test_empty_subject(seed_contents):
    found = errors(run_lint(dataclasses.replace(seed_contents[0], subject="  ")), "subject")
    assert found and "subject:" in found[0].message


def test_scaffold_prompts_left_in_a_new_issue_are_errors_with_their_line(tmp_path, seed_contents):
    """A file exactly as `mailer issue new` writes it: every prompt is an error naming its line."""
    import datetime as dt

    from mailer.content.issue_file import load_issue
    from mailer.content.issue_writer import format_issue
    from mailer.content.load import issue_defaults
    from mailer.content.scaffold import prompts

    path = tmp_path / "2026-12-02.md"
    path.write_text(format_issue(prompts(seed_contents[0], dt.date(2026, 12, 2))), encoding="utf-8")
    lines = path.read_text(encoding="utf-8").splitlines()
    found = errors(run_lint(load_issue(path, issue_defaults(LIST))), "scaffold")
    assert (
        len(found) >= 7
    )  # subject, preheader, headline, summary, lead, deep dive title and text, opinions
    for finding in found:
        number = int(finding.message.split(":", 1)[0].removeprefix("line "))
        assert "TODO" in lines[number - 1] and "mailer issue new" in finding.message


def test_a_prompt_kept_without_its_todo_and_a_stray_todo(seed_contents):
    content = dataclasses.replace(
        seed_contents[0],
        headline="Deep dive title",
        lead=(*seed_contents[0].lead, "More on this soon (TODO check the numbers)."),
    )
    found = [f.message for f in errors(run_lint(content), "scaffold")]
    assert len(found) == 2 and "headline 'Deep dive title'" in found[0] and "TODO check" in found[1]
    todo_in_prose = dataclasses.replace(
        seed_contents[0], lead=("A todo-list app that ships TODOs on time.",)
    )
    assert not errors(run_lint(todo_in_prose), "scaffold")


# -- the gate in front of `mailer send`, through the CLI in a subprocess
# ------------------------------


def _cli_env(database_url: str, tmp_path, **extra: str) -> dict[str, str]:
    import os

    from tests.conftest import REPO, SECRET

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MAILER_", "AWS_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "MAILER_SECRET_KEY": SECRET,
            "MAILER_TRANSPORT": "file",
            "MAILER_OUTBOX": str(tmp_path / "outbox"),
            "MAILER_LISTS_DIR": str(REPO / "lists"),
            "MAILER_ISSUES_PATH": os.pathsep.join([str(tmp_path / "issues"), str(REPO / "issues")]),
        }
    )
    env.update(extra)
    return env


def _mailer(env: dict[str, str], *args: str):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "mailer", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _nothing_planned(factory) -> bool:
    from sqlalchemy import func, select

    from mailer.store.models import Delivery, Issue, Send

    with factory() as session:
        return not any(
            session.scalar(select(func.count()).select_from(table))
            for table in (Issue, Send, Delivery)
        )


def _outbox(tmp_path) -> list:
    return sorted((tmp_path / "outbox").rglob("*.eml"))


def test_send_stops_on_a_scaffolded_issue_and_force_sends_it(
    database_url, factory, sample_list, tmp_path
):
    env = _cli_env(database_url, tmp_path)
    new = _mailer(env, "issue", "new", "--out", str(tmp_path / "issues"))
    assert new.returncode == 0, new.stderr
    refused = _mailer(env, "send", "--issue", "today")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert sum("error: [scaffold] line " in line and "TODO:" in line for line in lines) >= 5
    assert lines[-1].startswith("Error: ") and "lint error(s), nothing sent" in lines[-1]
    assert "use --force to send anyway" in lines[-1] and "Traceback" not in refused.stderr
    assert _nothing_planned(factory) and _outbox(tmp_path) == []

    forced = _mailer(env, "send", "--issue", "today", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "error: [scaffold]" in forced.stderr and "sent 21 now" in forced.stdout
    assert len(_outbox(tmp_path)) == 21


def test_an_issue_five_days_old_needs_yes(database_url, factory, sample_list, tmp_path):
    import datetime as dt
    import re

    from tests.conftest import REPO

    day = dt.date.today() - dt.timedelta(days=5)
    seed = (REPO / "issues" / LIST.slug / "2026-11-20.md").read_text(encoding="utf-8")
    target = tmp_path / "issues" / LIST.slug / f"{day}.md"
    target.parent.mkdir(parents=True)
    target.write_text(
        re.sub(r"^date: .*$", f"date: {day}", seed, count=1, flags=re.M), encoding="utf-8"
    )
    env = _cli_env(database_url, tmp_path)
    refused = _mailer(env, "send", "--issue", day.isoformat())  # no terminal, no --yes
    assert refused.returncode == 2, refused.stdout + refused.stderr
    reason = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
    assert reason == [
        f"Error: would send an issue dated {day}, 5 days before today ({dt.date.today()}); "
        "pass --yes to confirm without a prompt"
    ], refused.stderr
    assert "Usage:" not in refused.stderr and _nothing_planned(factory) and _outbox(tmp_path) == []
    confirmed = _mailer(env, "send", "--issue", day.isoformat(), "--yes")
    assert confirmed.returncode == 0, confirmed.stderr
    assert len(_outbox(tmp_path)) == 21


def test_the_seed_issues_pass_the_gate_with_the_file_transport(
    database_url, factory, sample_list, tmp_path
):
    """The default MAILER_BASE_URL (http://127.0.0.1:8000) is a warning for the outbox, not an
    error."""
    env = _cli_env(database_url, tmp_path)
    for seed in SEEDS:
        result = _mailer(env, "send", "--issue", seed.stem, "--yes")
        assert result.returncode == 0, result.stderr
        # Warnings go to stdout with the send's summary; stderr holds errors alone.
        assert (
            "error:" not in result.stderr and "warning: [base-url] MAILER_BASE_URL" in result.stdout
        )
    assert len(_outbox(tmp_path)) == 21 * len(SEEDS)


def test_a_real_transport_refuses_a_local_base_url_naming_the_setting(
    database_url, factory, sample_list, tmp_path
):
    env = _cli_env(
        database_url,
        tmp_path,
        MAILER_TRANSPORT="smtp://127.0.0.1:9",
        MAILER_BASE_URL="http://127.0.0.1:8000",
    )
    refused = _mailer(env, "send", "--issue", SEEDS[0].stem, "--yes")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert (
        "error: [base-url] MAILER_BASE_URL 'http://127.0.0.1:8000' points to this machine"
        in refused.stderr
    )
    assert (
        "set MAILER_BASE_URL to the public https URL" in refused.stderr
        and "--force" in refused.stderr
    )
    assert _nothing_planned(factory)
