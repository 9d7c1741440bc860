"""Alerts (mailer/autopilot/alerts.py): a webhook that fails twice then accepts, a webhook that
never answers, a mailto: target through the file outbox, and the one log line."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mailer.autopilot.alerts import send_alert
from mailer.content.lists import ListDefinition, load_list
from mailer.transports.file import FileTransport

FIXTURE_DIR = Path(__file__).resolve().parent / "lists"
MAILTO = "mailto:editors@aimorningpost.example"


class Hook:
    """A local webhook: answers the statuses in `script` in turn (then 200); `hang` seconds of
    silence before each answer."""

    def __init__(self, script: list[int], hang: float = 0.0):
        self.script = list(script)
        self.hang = hang
        self.bodies: list[dict] = []
        self.calls = 0


def serve(hook: Hook) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            hook.calls += 1
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if hook.hang:
                time.sleep(hook.hang)
            status = hook.script.pop(0) if hook.script else 200
            if status == 200:
                hook.bodies.append(json.loads(body))
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass  # the client gave up (timeout)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/hook"


@pytest.fixture
def servers() -> Iterator[list[ThreadingHTTPServer]]:
    started: list[ThreadingHTTPServer] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def list_with(*targets: str) -> ListDefinition:
    list_def = load_list(FIXTURE_DIR, "ai-morning-post")
    return dataclasses.replace(
        list_def, schedule=dataclasses.replace(list_def.schedule, alert=targets)
    )


def test_a_webhook_failing_twice_gets_the_alert_once_on_the_third_attempt(tmp_path, servers):
    hook = Hook([500, 500])
    server, url = serve(hook)
    servers.append(server)
    results = send_alert(
        list_with(url),
        FileTransport(tmp_path),
        "Canary paused",
        "2026-11-23",
        "paused",
        backoff=0.01,
    )
    assert [(r.target, r.ok, r.attempts) for r in results] == [(url, True, 3)]
    assert hook.calls == 3
    assert hook.bodies == [
        {
            "text": "Canary paused",
            "list": "ai-morning-post",
            "issue": "2026-11-23",
            "state": "paused",
        }
    ]


def test_a_silent_webhook_fails_within_its_bound_and_the_mail_still_goes(tmp_path, servers):
    hook = Hook([], hang=2.0)
    server, url = serve(hook)
    servers.append(server)
    started = time.monotonic()
    results = send_alert(
        list_with(url, MAILTO),
        FileTransport(tmp_path),
        "Issue missing",
        "2026-11-23",
        "missing",
        timeout=0.2,
        backoff=0.01,
    )
    assert time.monotonic() - started < 1.5
    hook_result, mail_result = results
    assert (hook_result.ok, hook_result.attempts) == (False, 3)
    assert "Timeout" in hook_result.error
    assert (mail_result.target, mail_result.ok) == (MAILTO, True)
    assert len(list((tmp_path / "alerts").glob("*.eml"))) == 1


def test_a_mailto_alert_is_one_eml_under_outbox_alerts(tmp_path):
    results = send_alert(
        list_with(MAILTO),
        FileTransport(tmp_path),
        "Lint failed: TODO in the subject\nline 2",
        "2026-11-23",
        "blocked",
    )
    assert [(r.ok, r.error) for r in results] == [(True, None)]
    (path,) = (tmp_path / "alerts").glob("*.eml")
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert msg["From"] == "The AI Morning Post <morning@aimorningpost.example>"
    assert msg["To"] == "editors@aimorningpost.example"
    assert msg["Subject"] == "[The AI Morning Post] blocked: Lint failed: TODO in the subject"
    assert msg["Date"] is not None and msg["Date"].datetime is not None
    assert msg["Message-ID"].endswith("@aimorningpost.example>")
    assert not msg.is_multipart() and msg.get_content_type() == "text/plain"
    body = msg.get_content().replace("\r\n", "\n")  # CRLF on the wire (RFC 5322)
    assert body.startswith("Lint failed: TODO in the subject\nline 2\n")
    assert "issue: 2026-11-23" in body and "state: blocked" in body


def test_two_alerts_have_distinct_files_and_message_ids(tmp_path):
    transport = FileTransport(tmp_path)
    for _ in range(2):
        send_alert(list_with(MAILTO), transport, "x", "2026-11-23", "sent")
    paths = list((tmp_path / "alerts").glob("*.eml"))
    ids = {email.message_from_bytes(p.read_bytes())["Message-ID"] for p in paths}
    assert len(paths) == 2 and len(ids) == 2


def test_every_alert_is_one_log_line_even_without_targets(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mailer.autopilot.alerts")
    send_alert(list_with(), FileTransport(tmp_path), "Summary: 5 sent", "2026-11-23", "done")
    (record,) = [r for r in caplog.records if r.name == "mailer.autopilot.alerts"]
    line = record.getMessage()
    assert "list=ai-morning-post" in line and "state=done" in line and "Summary: 5 sent" in line
    assert "\n" not in line


def test_a_refused_connection_is_reported_not_raised(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mailer.autopilot.alerts")
    server, url = serve(Hook([]))
    server.server_close()  # nothing listens on the port any more
    results = send_alert(
        list_with(url, MAILTO),
        FileTransport(tmp_path),
        "x",
        "2026-11-23",
        "paused",
        backoff=0.01,
    )
    assert [(r.ok, r.attempts) for r in results] == [(False, 3), (True, 1)]
    (record,) = [r for r in caplog.records if r.name == "mailer.autopilot.alerts"]
    assert record.levelno == logging.WARNING and url in record.getMessage()
