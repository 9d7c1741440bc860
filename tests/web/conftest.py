"""Web fixtures: the app served on 127.0.0.1 in a thread (werkzeug), a second list, outbox
helpers."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
import shutil
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import inspect, text
from werkzeug.serving import make_server

from mailer.web import create_app
from tests.conftest import REPO

SECOND_LIST = """slug = "weekend-digest"
name = "The Weekend Digest"
tagline = "Long reads for Saturday"
from = "The Weekend Digest <weekend@aimorningpost.example>"
reply_to = "editors@aimorningpost.example"
template = "newsletter"
postal_address = "The AI Morning Post, 1 Example Street, Springfield 00000"
unsubscribe_mailbox = "unsubscribe@aimorningpost.example"
"""


@pytest.fixture
def lists_dir(tmp_path) -> Path:
    folder = tmp_path / "lists"
    folder.mkdir()
    shutil.copy(REPO / "lists" / "ai-morning-post.toml", folder)
    (folder / "weekend-digest.toml").write_text(SECOND_LIST)
    return folder


class _Late:
    """A WSGI app set after the server has bound its port (the app's base URL needs the port)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


class LiveServer:
    def __init__(self, url: str, settings, app):
        self.url, self.settings, self.app = url, settings, app

    def outbox_files(self) -> list[Path]:
        """The mails written so far, once the app's sender thread has sent what it was given."""
        assert self.app.extensions["mailer"]["outbound"].drain(30), (
            "the web app's mail queue did not drain"
        )
        return sorted(
            Path(self.settings.outbox_dir).rglob("*.eml"), key=lambda p: p.stat().st_mtime_ns
        )

    def outbox(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in self.outbox_files()
        ]

    def form_fields(self, slug: str = "ai-morning-post") -> dict[str, str]:
        """The hidden fields of the subscribe form, as a browser would send them."""
        page = self.get(f"/subscribe/{slug}")
        assert page.status_code == 200, page.status_code
        return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, allow_redirects=False, timeout=30, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, allow_redirects=False, timeout=30, **kwargs)

    def head(self, path: str, **kwargs) -> requests.Response:
        return requests.head(self.url + path, allow_redirects=False, timeout=30, **kwargs)


def dump_tables(engine) -> dict[str, list[tuple]]:
    """Every row of every table of the database, to compare before and after requests."""
    tables = inspect(engine).get_table_names()
    with engine.connect() as conn:
        return {
            name: sorted(
                (tuple(row) for row in conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr
            )
            for name in tables
        }


def confirm_path(message) -> str:
    """The confirmation link's path: a GET shows the button, a POST to it confirms."""
    body = message.get_body(("plain",)).get_content()
    match = re.search(r"https?://[^/\s]+(/confirm/\S+)", body)
    assert match, body
    return match.group(1)


@pytest.fixture
def serve(engine, settings, lists_dir):
    """serve(**create_app options) -> LiveServer on a free loopback port; stopped after the test."""
    servers = []

    def start(**options) -> LiveServer:
        late = _Late()
        server = make_server("127.0.0.1", 0, late, threaded=True)
        url = f"http://127.0.0.1:{server.server_port}"
        changes = {"base_url": url, "lists_dir": lists_dir, **options.pop("settings_changes", {})}
        live_settings = dataclasses.replace(settings, **changes)
        options.setdefault("subscribe_limit", (1000, 60.0))
        late.app = create_app(live_settings, **options)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread, late.app))
        return LiveServer(url, live_settings, late.app)

    yield start
    for server, thread, app in servers:
        server.shutdown()
        thread.join(5)
        app.extensions["mailer"]["outbound"].close()
        app.extensions["mailer"]["clicks"].close()  # its flusher stops; what is pending is written


@pytest.fixture
def live(serve) -> LiveServer:
    return serve()
