"""The web app run on this machine (`mailer serve`): the address its links use, and the settings
of a local trial (`--demo`), whose links must reach this server wherever MAILER_BASE_URL points."""

from __future__ import annotations

import dataclasses
import signal

from mailer.config import Settings


def link_host(host: str) -> str:
    """The host for links to a server listening on `host` (a wildcard address: on loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def server_url(host: str, port: int) -> str:
    return f"http://{link_host(host)}:{port}"


def demo_settings(settings: Settings, host: str, port: int) -> Settings:
    """`settings` with links (and confirmation mails) pointing at this server: MAILER_BASE_URL is a
    production setting, and a trial's links must reach the trial."""
    return dataclasses.replace(settings, base_url=server_url(host, port))


def stop_on_sigterm() -> None:
    """SIGTERM ends the server as Ctrl-C does: Python's default would end the process at once,
    skipping its exit handlers, and the clicks counted in memory would be lost (click_counter.py
    writes them at exit)."""

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
