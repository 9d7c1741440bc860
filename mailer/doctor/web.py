"""The web app as readers and mailbox providers reach it, at MAILER_BASE_URL: /healthz answers,
and the RFC 8058 one-click POST to an unsubscribe link answers 200 with no redirect.

The link is the one a mail carries (send/links.py), for the test subscriber (tokens.py,
TEST_SUBSCRIBER_ID), which the web app recognises and changes nothing for: the POST proves the
route, the TLS in front of it and that the web app signs with this machine's MAILER_SECRET_KEY.
"""

from __future__ import annotations

import re

import requests

from mailer.doctor.check import Check, fail, not_checked, ok, one_line
from mailer.doctor.probe import SETTINGS_FILE, Probe
from mailer.send.links import LinkMaker
from mailer.tokens import TEST_SUBSCRIBER_ID

TIMEOUT = 10.0  # seconds for each request
PROBE_ADDRESS = "mailer-doctor@invalid"  # only for the link's Recipient; nothing is mailed
ONE_CLICK_BODY = {"List-Unsubscribe": "One-Click"}  # what mailbox providers POST (RFC 8058)


def checks(probe: Probe) -> list[Check]:
    health = healthz(probe)
    if health.failed:
        because = "the web app does not answer (see web.healthz)"
        return [health, not_checked("web.one_click", because)]
    return [health, one_click(probe)]


def _unreachable(name: str, url: str, exc: requests.RequestException) -> Check:
    if isinstance(exc, requests.exceptions.SSLError):
        return fail(
            name,
            f"{url}: the TLS certificate is not trusted ({_reason(exc)})",
            "give the TLS proxy in front of the web app a certificate for the base URL's host "
            "that browsers trust (e.g. Let's Encrypt's)",
        )
    return fail(
        name,
        f"{url} does not answer: {_reason(exc)}",
        "start the web app (systemctl start mailer-web) and check that the TLS proxy forwards "
        "MAILER_BASE_URL to it (README, Production)",
    )


def _reason(exc: requests.RequestException) -> str:
    """The cause at the bottom of requests' and urllib3's wrapped messages."""
    text = one_line(exc)
    for pattern in (
        r"\[Errno -?\d+\] [^'\")\]]+",
        r"\[SSL: [A-Z_]+\] [^'\")\]]+",
        r"Read timed out",
    ):
        found = re.search(pattern, text)
        if found:
            return found.group(0).strip()
    return text[:200]


def _redirected(name: str, url: str, response: requests.Response, why: str) -> Check:
    location = response.headers.get("Location", "?")
    return fail(
        name,
        f"{url} answers {response.status_code} with a redirect to {location}: {why}",
        f"set MAILER_BASE_URL in {SETTINGS_FILE} to the address the web app answers at "
        "itself (scheme and host included), with no redirect in between",
    )


def healthz(probe: Probe) -> Check:
    name = "web.healthz"
    url = f"{probe.settings.base_url}/healthz"
    try:
        response = requests.get(url, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return _unreachable(name, url, exc)
    if response.is_redirect:
        return _redirected(name, url, response, "links would take a detour")
    if response.status_code != 200:
        return fail(
            name,
            f"{url} answers {response.status_code}",
            "read the web app's log (journalctl -u mailer-web) and the TLS proxy's",
        )
    try:
        healthy = response.json().get("status") == "ok"
    except (ValueError, AttributeError):
        healthy = False
    if not healthy:
        return fail(
            name,
            f'{url} answers 200, but not as the mailer web app (no {{"status": "ok"}})',
            "point the TLS proxy for MAILER_BASE_URL at the mailer web app (127.0.0.1:8000)",
        )
    return ok(name, f"{url} answers 200")


def one_click(probe: Probe) -> Check:
    name = "web.one_click"
    if not probe.settings.secret_key:
        return not_checked(name, "no MAILER_SECRET_KEY to sign a link (see settings.secret_key)")
    if not probe.lists:
        return not_checked(name, "no list to make a link for (see settings.lists)")
    list_def = probe.lists[0]
    url = (
        LinkMaker(probe.settings, list_def)
        .recipient(0, TEST_SUBSCRIBER_ID, PROBE_ADDRESS, "")
        .unsubscribe_url
    )
    shown = url.rsplit("/", 1)[0] + "/<test token>"
    try:
        response = requests.post(url, data=ONE_CLICK_BODY, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return _unreachable(name, shown, exc)
    if response.is_redirect:
        return _redirected(
            name,
            shown,
            response,
            "mailbox providers do not follow a redirect of the one-click POST",
        )
    if response.status_code == 400:
        return fail(
            name,
            f"POST {shown} answers 400: the web app does not accept a link signed here, so its "
            "MAILER_SECRET_KEY differs from this machine's",
            "give the web app and every machine that sends the same MAILER_SECRET_KEY (and "
            f"MAILER_OLD_SECRET_KEYS) in {SETTINGS_FILE}, then restart mailer-web",
        )
    if response.status_code == 404:
        return fail(
            name,
            f"POST {shown} answers 404: the web app has no list {list_def.slug}",
            f"give the web app the list file {list_def.slug}.toml (MAILER_LISTS_DIR), then restart "
            "mailer-web",
        )
    if response.status_code != 200:
        return fail(
            name,
            f"POST {shown} answers {response.status_code}, not 200",
            "read the web app's log (journalctl -u mailer-web) and the TLS proxy's",
        )
    return ok(name, f"one-click POST {shown} answers 200, no redirect (a test link: no one left)")
