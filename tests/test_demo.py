"""`make demo` works on any date: on a day without a shipped issue it scaffolds one under
var/demo."""

from __future__ import annotations

import email
import email.policy
import html.parser
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO


def test_demo_on_a_day_without_an_issue(tmp_path):
    for folder in ("scripts", "issues", "lists"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"
    }
    env["MAILER_DEMO_DATE"] = "2027-03-09"
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "scripts/demo.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    scaffolded = tmp_path / "var/demo/issues/ai-morning-post/2027-03-09.md"
    assert "date: 2027-03-09" in scaffolded.read_text()
    assert sorted(p.name for p in (tmp_path / "issues/ai-morning-post").iterdir()) == sorted(
        p.name for p in (REPO / "issues/ai-morning-post").iterdir()
    )  # issues/ untouched
    assert len(list((tmp_path / "var/demo/outbox/ai-morning-post/2027-03-09").glob("*.eml"))) == 21
    assert (tmp_path / "var/demo/preview/ai-morning-post-2027-03-09.html").exists()
    assert "messages: var/demo/outbox/ai-morning-post/2027-03-09/*.eml" in result.stdout


# --- a newcomer's first hour: the demo, then the README's next commands on its data ------------

DAY = "2027-03-09"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A copy of the repository (scripts, issues, lists) where `make demo` has run: (root, its
    stdout)."""
    root = tmp_path_factory.mktemp("repo")
    for folder in ("scripts", "issues", "lists"):
        shutil.copytree(REPO / folder, root / folder)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"
    }
    env.update(MAILER_DEMO_DATE=DAY, PYTHONPATH=str(REPO))
    result = subprocess.run(
        [sys.executable, "scripts/demo.py"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return root, result.stdout


def pasted(stdout: str) -> str:
    """The lines the demo says to paste into a shell, as printed."""
    lines = [line.strip() for line in stdout.splitlines()]
    start = next(
        i for i, line in enumerate(lines) if line.startswith("To run the README's commands")
    )
    block = []
    for line in lines[start + 1 :]:
        if line.startswith(("export ", ". ")):
            block.append(line)
        elif block:
            break
    assert any(line.startswith("export DATABASE_URL=") for line in block), stdout
    return "\n".join(block)


def shell(
    root: Path, stdout: str, command: str, **options
) -> subprocess.CompletedProcess | subprocess.Popen:
    """`command` in a fresh bash after the pasted lines, in a shell without any mailer settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MAILER_") and k != "DATABASE_URL"
    }
    env["PYTHONPATH"] = str(REPO)
    script = f"{pasted(stdout)}\nexec {command}"
    if options.pop("background", False):
        return subprocess.Popen(
            ["bash", "-c", script],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return subprocess.run(
        ["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_demo_explains_who_got_the_issue(demo):
    _, stdout = demo
    assert (
        "21 of 25 subscribers on ai-morning-post were sent the issue: 3 pending, 1 unsubscribed"
        in stdout
    )


def test_the_readme_commands_work_on_the_demo_data(demo):
    root, stdout = demo
    mailer = f"{shlex.quote(sys.executable)} -m mailer"
    status = shell(root, stdout, f"{mailer} status --issue {DAY} --list ai-morning-post")
    assert status.returncode == 0, status.stderr
    assert "21" in status.stdout and "sent" in status.stdout
    shown = shell(root, stdout, f"{mailer} subscribers show ada.lovelace@example.com")
    assert shown.returncode == 0, shown.stderr
    assert "list ai-morning-post: confirmed" in shown.stdout
    lint = shell(root, stdout, f"{mailer} lint --issue {DAY} --list ai-morning-post")
    assert "error(s)" in lint.stdout, lint.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Form(html.parser.HTMLParser):
    """The fields of the first form on a page, as a browser would submit them."""

    def __init__(self):
        super().__init__()
        self.fields, self.done = {}, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if (
            not self.done
            and tag == "input"
            and attrs.get("name")
            and attrs.get("type") not in ("submit", "checkbox")
        ):
            self.fields[attrs["name"]] = attrs.get("value") or ""
        if not self.done and tag in ("select",) and attrs.get("name"):
            self.fields.setdefault(attrs["name"], "")

    def handle_endtag(self, tag):
        self.done = self.done or tag == "form"


@pytest.fixture
def served(demo):
    root, stdout = demo
    port = free_port()
    server = shell(
        root,
        stdout,
        f"{shlex.quote(sys.executable)} -m mailer serve --demo --port {port}",
        background=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # until it listens (or gave up)
            if server.poll() is not None:
                pytest.fail(f"mailer serve --demo stopped: {server.stdout.read()}")
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield root, url
    finally:
        server.terminate()
        server.wait(10)


def test_the_demo_builds_the_static_archive_with_the_issue_it_sent(demo):
    root, stdout = demo
    assert "archive:  var/demo/site/index.html" in stdout
    assert (root / "var/demo/site" / DAY / "index.html").is_file()
    assert f'href="{DAY}/index.html"' in (root / "var/demo/site/index.html").read_text()


def test_the_archive_on_serve_demo_shows_the_issue_the_demo_sent(served):
    root, url = served
    page = requests.get(f"{url}/archive/ai-morning-post/", timeout=10)
    assert page.status_code == 200 and f"/archive/ai-morning-post/{DAY}" in page.text
    issue = requests.get(f"{url}/archive/ai-morning-post/{DAY}", timeout=10)
    assert issue.status_code == 200 and 'property="og:image"' in issue.text


def test_links_in_the_demo_mails_work_on_serve_demo(served):
    root, url = served
    mail = sorted((root / "var/demo/outbox/ai-morning-post" / DAY).glob("*.eml"))[0]
    message = email.message_from_bytes(mail.read_bytes(), policy=email.policy.default)
    link = re.search(
        r"<(https?://[^>]+/unsubscribe/[^>]+)>", str(message["List-Unsubscribe"])
    ).group(1)
    page = requests.get(url + "/unsubscribe/" + link.rsplit("/unsubscribe/", 1)[1], timeout=10)
    assert page.status_code == 200, page.text[:500]
    assert "bad link" not in page.text.lower() and "not valid" not in page.text.lower()


def test_a_subscription_on_serve_demo_mails_its_confirmation_to_the_demo_outbox(served):
    root, url = served
    page = requests.get(f"{url}/subscribe", timeout=10)
    assert page.status_code == 200
    form = Form()
    form.feed(page.text)
    fields = {**form.fields, "email": "newcomer@example.com", "name": "New Comer", "website": ""}
    fields.setdefault("list", "ai-morning-post")
    answer = requests.post(f"{url}/subscribe", data=fields, timeout=10)
    assert answer.status_code == 200, answer.text[:500]
    found = []
    for _ in range(300):  # the app may hand the mail to a background sender: wait for it to appear
        mails = list((root / "var/demo/outbox").rglob("*.eml"))
        found = [m for m in mails if b"newcomer@example.com" in m.read_bytes()]
        if found:
            break
        time.sleep(0.1)
    assert len(found) == 1, found
    assert found[0].is_relative_to(root / "var/demo/outbox/confirmations")
    body = (
        email.message_from_bytes(found[0].read_bytes(), policy=email.policy.default)
        .get_body(("plain",))
        .get_content()
    )
    confirm = re.search(r"(https?://\S+/confirm/\S+)", body).group(1)
    assert confirm.startswith(url + "/confirm/")  # the base URL is the server's --host/--port
    assert requests.get(confirm, timeout=10).status_code == 200
