"""Alerts: one short text about a list's day (`list`, `issue`, `state`) sent to every target of the
list's `[schedule] alert` (ARCHITECTURE.md, "Stages": autopilot; "Layers and rules": autopilot may
use transports, content and store, nothing below imports it).

- `mailto:ADDRESS`: a plain-text RFC 5322 mail through the transport the caller passes in (the
  list's transport). Its batch is `alerts`, so the file transport writes it under
  `<outbox>/alerts/`.
- `https://URL`: a JSON POST `{"text", "list", "issue", "state"}` (Slack-compatible `text`);
  `http://` too when passed in `targets` (a local hook; the list file allows https:// only).
  Connection errors, timeouts, 5xx and 429 are retried: at most `attempts` (3) tries, `timeout`
  (5 s) for the connection and again for each read, sleeping 0.5 s then 1 s between tries. So a
  webhook costs at most about 3 x (5 + 5) + 1.5 = 31.5 s in the worst case, and 16.5 s when the
  server never answers at all (read timeouts; a server trickling bytes slower than one per 5 s
  can stretch a read, which is requests' read timeout semantics).

`send_alert` never raises into the caller: each target's outcome is one `TargetResult`, one target's
failure never stops the others, and one log line is always written.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import requests

from mailer.content.lists import ListDefinition
from mailer.send.message import POLICY
from mailer.store.models import utcnow
from mailer.transports import OutgoingMessage, Transport

log = logging.getLogger(__name__)

ALERT_BATCH = "alerts"
TIMEOUT = 5.0
ATTEMPTS = 3
BACKOFF = 0.5  # seconds before the 2nd try; doubled before each later one
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class TargetResult:
    target: str
    ok: bool
    attempts: int
    error: str | None = None


def _subject(list_def: ListDefinition, state: str, text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"[{list_def.name}] {state}: {first}"


def build_alert_mail(
    list_def: ListDefinition, address: str, text: str, issue: str, state: str
) -> bytes:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = list_def.from_header
    msg["To"] = Address(addr_spec=address)
    msg["Subject"] = _subject(list_def, state, text)
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(idstring=secrets.token_hex(8), domain=list_def.domain)
    msg["Auto-Submitted"] = "auto-generated"
    body = f"{text.rstrip()}\n\nlist: {list_def.slug}\nissue: {issue}\nstate: {state}\n"
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    return msg.as_bytes(policy=POLICY)


def _mail_id() -> int:
    # Names the .eml in the outbox: milliseconds since the epoch and a random suffix, so two alerts
    # never share a file and the names sort by time.
    return int(time.time() * 1000) * 1000 + secrets.randbelow(1000)


def _send_mail(
    transport: Transport, list_def: ListDefinition, address: str, text: str, issue: str, state: str
) -> TargetResult:
    target = f"mailto:{address}"
    try:
        raw = build_alert_mail(list_def, address, text, issue, state)
        transport.send(
            OutgoingMessage(
                delivery_id=_mail_id(), send_id=0, recipient=address, raw=raw, batch=ALERT_BATCH
            )
        )
    except Exception as exc:  # noqa: BLE001 - never into the caller: an alert must not stop a send
        return TargetResult(target, False, 1, f"{type(exc).__name__}: {exc}")
    return TargetResult(target, True, 1)


def _post(
    url: str,
    payload: dict[str, str],
    timeout: float,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None],
) -> TargetResult:
    error = None
    for attempt in range(1, attempts + 1):
        try:
            response = requests.post(url, json=payload, timeout=(timeout, timeout))
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
            retry = isinstance(exc, requests.ConnectionError | requests.Timeout)
        except Exception as exc:  # noqa: BLE001 - a bad URL, say: reported, never raised
            return TargetResult(url, False, attempt, f"{type(exc).__name__}: {exc}")
        else:
            if response.status_code < 300:
                return TargetResult(url, True, attempt)
            error = f"HTTP {response.status_code}"
            retry = response.status_code in RETRY_STATUSES
        if not retry:
            return TargetResult(url, False, attempt, error)
        if attempt < attempts:
            sleep(backoff * 2 ** (attempt - 1))
    return TargetResult(url, False, attempts, error)


def send_alert(
    list_def: ListDefinition,
    transport: Transport,
    text: str,
    issue: str,
    state: str,
    *,
    targets: tuple[str, ...] | None = None,
    timeout: float = TIMEOUT,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
) -> list[TargetResult]:
    """Send one alert to every target (default: the list's `schedule.alert`) and log it once.
    `issue` is the issue's date (YYYY-MM-DD), `state` a short word such as "paused". Returns one
    result per target, in order; never raises. Bounds per webhook: see the module docstring."""
    if targets is None:
        targets = list_def.schedule.alert if list_def.schedule else ()
    payload = {"text": text, "list": list_def.slug, "issue": issue, "state": state}
    results = []
    for target in targets:
        if target.startswith("mailto:"):
            address = target.removeprefix("mailto:")
            results.append(_send_mail(transport, list_def, address, text, issue, state))
        elif target.startswith("https://") or target.startswith("http://"):
            results.append(_post(target, payload, timeout, attempts, backoff, sleep))
        else:
            results.append(TargetResult(target, False, 0, "neither mailto: nor https://"))
    failed = [f"{r.target} ({r.error})" for r in results if not r.ok]
    level = logging.WARNING if failed else logging.INFO
    log.log(
        level,
        "alert list=%s issue=%s state=%s text=%r targets=%d ok=%d%s",
        list_def.slug,
        issue,
        state,
        text.strip().splitlines()[0] if text.strip() else "",
        len(results),
        len(results) - len(failed),
        f" failed: {'; '.join(failed)}" if failed else "",
    )
    return results
