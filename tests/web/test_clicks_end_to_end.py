"""Click tracking end to end, as a reader's mail client, a link scanner and an editor meet it: a
send with [analytics] clicks on into the outbox, every counted link of a delivered mail followed
over real HTTP (302 to exactly the link the untracked render has there), scanners among them, and
then `mailer report --links --json` (a subprocess) showing exactly the requests made."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import sys
from collections import Counter

import pytest
import requests
from lxml import html as lxml_html

from mailer.content.issue_file import load_issue
from mailer.content.lists import load_list
from mailer.content.load import issue_defaults
from mailer.render.issue import render_issue
from mailer.send.campaign import SendOptions, run_send
from mailer.transports import FileTransport
from tests.conftest import DB_KINDS, REPO, SECRET, import_sample

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel)"
ANALYTICS = "\n[analytics]\nclicks = true\nscanner_window_seconds = 0\n"


def hrefs(html: str) -> list[str]:
    return [a.get("href") for a in lxml_html.fromstring(html).iter("a") if a.get("href")]


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_readers_clicks_redirect_exactly_and_the_report_counts_them(
    serve, lists_dir, factory, database_url, tmp_path
):
    path = lists_dir / "ai-morning-post.toml"
    path.write_text(path.read_text() + ANALYTICS)
    live = serve()
    list_def = load_list(lists_dir, "ai-morning-post")
    content = load_issue(
        sorted((REPO / "issues" / "ai-morning-post").glob("*.md"))[2], issue_defaults(list_def)
    )
    import_sample(factory)
    outbox = tmp_path / "sent"
    summary = run_send(
        factory, live.settings, list_def, content, FileTransport(outbox), SendOptions(rate=1000)
    )
    assert summary.sent_now == 21

    untracked = hrefs(render_issue(content, list_def, live.url).html)
    raw = sorted(outbox.rglob("*.eml"))[0].read_bytes()
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    tracked = hrefs(mail.get_body(("html",)).get_content())
    assert len(tracked) == len(untracked)
    counted = [(i, link) for i, link in enumerate(tracked) if link.startswith(f"{live.url}/r/")]
    assert len(counted) >= 5  # the seed links its GitHub repositories
    text = mail.get_body(("plain",)).get_content()
    assert set(re.findall(rf"{re.escape(live.url)}/r/[A-Za-z0-9_-]+", text)) <= set(tracked)

    made = Counter()
    for index, link in counted:
        answer = requests.get(
            link, headers={"User-Agent": BROWSER}, allow_redirects=False, timeout=30
        )
        assert answer.status_code == 302 and answer.headers["Location"] == untracked[index]
        made[(untracked[index], "clicks")] += 1
    for index, link in counted[:3]:  # a second reader click on the first three, same reader
        requests.get(link, headers={"User-Agent": BROWSER}, allow_redirects=False, timeout=30)
        made[(untracked[index], "clicks")] += 1
    for index, link in counted[:5]:  # a mail scanner: HEAD, then GET with its user agent
        assert requests.head(link, allow_redirects=False, timeout=30).status_code == 302
        requests.get(link, headers={"User-Agent": SCANNER}, allow_redirects=False, timeout=30)
        made[(untracked[index], "scanner")] += 2
    live.app.extensions["mailer"]["clicks"].close()  # what a graceful stop does: all written

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    env.update(
        DATABASE_URL=database_url,
        MAILER_SECRET_KEY=SECRET,
        MAILER_LISTS_DIR=str(lists_dir),
        MAILER_ISSUES_PATH=str(REPO / "issues"),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mailer",
            "report",
            "--issue",
            content.date.isoformat(),
            "--list",
            "ai-morning-post",
            "--links",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    reported = Counter()
    for row in report["links"]:
        reported[(row["url"], "clicks")] += row["clicks"]
        reported[(row["url"], "scanner")] += row["scanner"]
        assert row["unique"] <= row["clicks"]
        assert row["unique"] == (1 if row["clicks"] else 0)  # one reader: one network, one agent
    assert +reported == +made
    assert sum(s["clicks"] for s in report["sections"]) == sum(
        n for (_, kind), n in made.items() if kind == "clicks"
    )
