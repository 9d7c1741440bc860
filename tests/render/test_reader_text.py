"""What a reader reads: no invented or internal text, right plurals, a text part that fits 78
columns,
a QR sentence that names the QR code's real target, and a greeting with a first name or none.

Each seed issue goes through the real path: loaded against a fresh database with no trending
snapshot
(content.load.load_issue_for), rendered, built by the send's MessageSkeleton, parsed by Python's
email
parser. The greetings go through a real send to the file outbox.
"""

from __future__ import annotations

import csv
import dataclasses
import email
import os
import re
import shutil
import subprocess
import sys
from email.policy import default as default_policy
from html.parser import HTMLParser

import pytest

from mailer.audience.importing.importer import import_rows, read_csv
from mailer.audience.lists import ensure_list
from mailer.content.load import load_issue_for
from mailer.content.model import Item, TrendingModel, TrendingRepo
from mailer.render.issue import render_issue, render_sources
from mailer.render.qr import qr_target
from mailer.send.campaign import run_send
from mailer.send.message import MessageSkeleton, Recipient
from mailer.store.db import transaction
from mailer.transports import FileTransport
from tests.conftest import DB_KINDS, REPO, SECRET
from tests.render.conftest import BASE_URL, LIST, SEEDS

URL_LINE = re.compile(r"\s*(https?|mailto):\S+")
INTERNAL = ("No movers yet", "snapshots exist", "No Hugging Face entries", "No GitHub repositories")


def a_recipient() -> Recipient:
    # tokens as long as real ones (mailer/tokens.py), so that the link lines are as long as in a
    # send
    token = "MTIzNDU2Nzg5.YWktbW9ybmluZy1wb3N0.ZK3j4Vh2pQ9xLw7sT1uYbN0cRm5eA8dFgHiJkLoP"
    return Recipient(
        delivery_id=1,
        email="ada@example.com",
        name="Ada Lovelace",
        unsubscribe_url=f"{BASE_URL}/unsubscribe/{token}",
        manage_url=f"{BASE_URL}/manage/{token}",
        unsubscribe_mailto="mailto:unsubscribe@aimorningpost.example?subject=unsubscribe",
        message_id="<0123456789abcdef0123456789abcdef@aimorningpost.example>",
    )


def parsed(content) -> tuple[str, str, str]:
    """(text part, HTML part, HTML source) of the message a subscriber would get, as a parser reads
    it."""
    rendered = render_issue(content, LIST, BASE_URL)
    raw = MessageSkeleton(rendered, LIST, send_id=1).message(a_recipient())
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert not msg.defects
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    return text, msg.get_body(("html",)).get_content(), rendered.html


class _Text(HTMLParser):
    """The words of an HTML page, as a reader sees them (no style, no markup)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "title", "head")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "title", "head")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.words.append(" ".join(data.split()))


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "\n".join(parser.words)


@pytest.fixture
def fresh_seeds(settings, factory):
    """Every seed issue as a send loads it from a database that has no trending snapshot yet."""
    return [load_issue_for(settings, LIST, path.stem, factory=factory) for path in SEEDS]


def test_a_fresh_database_has_no_snapshot_so_trending_comes_from_the_files_only(fresh_seeds):
    assert (
        fresh_seeds[0].mover_items == () and fresh_seeds[0].hf_models == ()
    )  # the case under test


@pytest.mark.parametrize("index", range(5), ids=[p.stem for p in SEEDS])
def test_the_text_part_fits_78_columns_except_lone_urls(fresh_seeds, index):
    text, _, _ = parsed(fresh_seeds[index])
    too_long = [
        line for line in text.splitlines() if len(line) > 78 and not URL_LINE.fullmatch(line)
    ]
    assert too_long == []
    # a URL is never broken across lines, nor shares a line with words when the line would be too
    # long
    for line in text.splitlines():
        if "://" in line and len(line) > 78:
            assert URL_LINE.fullmatch(line), line


@pytest.mark.parametrize("index", range(5), ids=[p.stem for p in SEEDS])
def test_no_zero_counts_and_no_internal_notes_in_either_part(fresh_seeds, index):
    text, html, _ = parsed(fresh_seeds[index])
    words = visible_text(html)
    for part in (text, words):
        assert not re.search(r"(^|\s)0\s", part), re.search(r".*(^|\s)0\s.*", part).group(0)
        assert not [note for note in INTERNAL if note in part]
    assert "Good morning, Ada" in text and "Good morning, Ada" in words


def test_sections_without_data_are_left_out(fresh_seeds):
    content = fresh_seeds[0]  # 2026-11-18: no Hugging Face entries, no movers
    text, html, _ = parsed(content)
    words = visible_text(html)
    for part in (text, words):
        assert content.movers.title not in part and content.hf_heading not in part
        assert content.github_heading in part  # the section that has data stays
    bare = dataclasses.replace(content, github_repos=(), tool_items=(), reading_items=())
    text, html, _ = parsed(bare)
    for part in (text, visible_text(html)):
        for title in (
            content.trending.title,
            content.trending.intro,
            content.github_heading,
            content.tools.title,
            content.reading.title,
            content.metrics.title,
        ):
            assert title not in part


def test_counted_figures_use_the_right_plural(fresh_seeds):
    one = dataclasses.replace(
        fresh_seeds[0],
        hf_models=(TrendingModel("org/one"),),
        github_repos=(TrendingRepo("o/r", "d"),),
        tool_items=(Item("Tool", "does things"),),
    )
    text, html, _ = parsed(one)
    for part in (text, visible_text(html)):
        for figure in (
            "1\\s+Hugging Face model trending",
            "1\\s+GitHub repository trending",
            "1\\s+tool of the week",
        ):
            assert re.search(figure, part), figure
    two = dataclasses.replace(
        one,
        hf_models=(TrendingModel("a/m"), TrendingModel("b/d", kind="dataset")),
        tool_items=one.tool_items * 2,
    )
    text, _, _ = parsed(two)
    assert re.search(r"2\s+Hugging Face models & datasets trending", text)
    assert re.search(r"2\s+tools of the week", text)


@pytest.mark.parametrize("index", range(5), ids=[p.stem for p in SEEDS])
def test_the_text_part_names_where_the_qr_code_goes(fresh_seeds, index):
    text, _, source = parsed(fresh_seeds[index])
    target = qr_target(source)
    paragraph = text[text.index("QR code") :].split("\n\n", 1)[0]
    assert target in paragraph.split()
    if target != f"{BASE_URL}/subscribe/{LIST.slug}":
        assert f"{BASE_URL}/subscribe/" not in paragraph


def test_headline_underline_is_capped(fresh_seeds):
    long = dataclasses.replace(fresh_seeds[0], headline="A headline " * 12)
    text, _, _ = parsed(long)
    underlines = [line for line in text.splitlines() if line and set(line) <= {"=", "-"}]
    assert underlines and max(len(line) for line in underlines) <= 78


def test_lint_warns_about_each_section_left_out(fresh_seeds):
    from mailer.render.lint import lint

    content = fresh_seeds[0]
    findings = lint(
        content,
        LIST,
        BASE_URL,
        render_sources(content, LIST, BASE_URL),
        render_issue(content, LIST, BASE_URL, strict=False),
    )
    assert [f.level for f in findings] == ["warning", "warning"]
    messages = [f.message for f in findings]
    assert any(repr(content.hf_heading) in m for m in messages), messages
    assert any(repr(content.movers.title) in m for m in messages), messages


# --- the greeting, through a real send
# --------------------------------------------------------------

GREETINGS = {
    "Ada Lovelace": "Good morning, Ada",
    "Lamarr, Hedy": "Good morning, Hedy",
    "Lamarr,": "Good morning",
    "Cher": "Good morning, Cher",
    "José Núñez": "Good morning, José",
    "  Grace   Hopper ": "Good morning, Grace",
    "grace@example.net": "Good morning",
    "Grace <grace@example.net>": "Good morning",
    "": "Good morning",
    "   ": "Good morning",
    "x" * 120: "Good morning",
}


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_the_greeting_uses_a_first_name_or_none(factory, settings, tmp_path):
    path = tmp_path / "people.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "name"])
        for i, name in enumerate(GREETINGS):
            writer.writerow([f"reader{i}@example.com", name])
    with transaction(factory) as session:
        list_id = ensure_list(session, LIST)
    rows, problems = read_csv(path)
    import_rows(factory, list_id, rows, problems, source="greetings")
    content = load_issue_for(settings, LIST, "2026-11-20", factory=factory)
    assert run_send(
        factory, settings, LIST, content, FileTransport(settings.outbox_dir)
    ).sent_now == len(GREETINGS)
    got = {}
    for eml in (settings.outbox_dir / LIST.slug / "2026-11-20").glob("*.eml"):
        msg = email.message_from_bytes(eml.read_bytes(), policy=default_policy)
        index = int(msg["To"].addresses[0].addr_spec.split("@")[0].removeprefix("reader"))
        text = msg.get_body(("plain",)).get_content()
        line = next(line for line in text.splitlines() if line.startswith("Good morning"))
        assert line in visible_text(msg.get_body(("html",)).get_content()).splitlines()
        got[list(GREETINGS)[index]] = line
    assert got == GREETINGS


def test_mailer_lint_warns_and_still_passes(tmp_path):
    """The operator's view: `mailer lint` on a fresh database names each section it leaves out, exit
    0."""
    for folder in ("lists", "issues"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"
    }
    env.update({"MAILER_SECRET_KEY": SECRET, "MAILER_BASE_URL": BASE_URL})

    def mailer(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "mailer", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert mailer("db", "upgrade").returncode == 0
    result = mailer("lint", "--issue", "2026-11-18")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(": ", 1)[1] for line in lines if "[left-out]" in line] == [
        "warning: [left-out] section 'Models & Datasets of the Week' has no data and is left out "
        "of the mail",
        "warning: [left-out] section 'Biggest Movers This Week' has no data and is left out of the "
        "mail",
    ]
    assert lines[-1].endswith(": 0 error(s), 2 warning(s)") and "Traceback" not in result.stderr
