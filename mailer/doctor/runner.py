"""Every check in order, as one call for `mailer doctor` and `mailer status --health`: settings,
the SES account, the From domains, the events path, the web app; then, when asked, the round trip
(ARCHITECTURE.md, "The doctor").

A group that raises is one failed check naming the group, never a traceback; the other groups
still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from mailer.config import Settings
from mailer.doctor import domain, events, ses_account, web
from mailer.doctor import settings as settings_checks
from mailer.doctor.check import Check, Status, fail, not_checked, one_line
from mailer.doctor.probe import Probe, uses_ses
from mailer.doctor.resolver import Resolver
from mailer.doctor.round_trip import WAIT, RoundTrip, sandbox_question
from mailer.errors import MailerError

log = logging.getLogger(__name__)

Group = Callable[[Probe], list[Check]]


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def failed(self) -> bool:
        return any(check.failed for check in self.checks)

    def count(self, status: Status) -> int:
        return sum(check.status == status for check in self.checks)

    def as_dict(self) -> dict:
        return {"checks": [check.as_dict() for check in self.checks]}

    def summary(self) -> str:
        return (
            f"{len(self.checks)} checks: {self.count(Status.OK)} ok, "
            f"{self.count(Status.WARN)} warn, {self.count(Status.FAIL)} fail"
        )


@dataclass(frozen=True)
class RoundTripOptions:
    """`--round-trip`: `confirm` gets the question when there is one (the SES sandbox) and
    raises to refuse; None means confirmed already (`--yes`)."""

    confirm: Callable[[str], None] | None = None
    wait: float = WAIT


def _guarded(name: str, group: Group, probe: Probe) -> list[Check]:
    try:
        return group(probe)
    except (MailerError, BotoCoreError, ClientError) as exc:
        return [fail(name, one_line(exc), "see the message; then run mailer doctor again")]
    except Exception as exc:  # noqa: BLE001 - a bug in one group must not hide the others
        log.exception("mailer doctor: the %s checks failed", name)
        return [
            fail(name, f"the {name} checks failed: {one_line(exc)}", "report it with this line")
        ]


def open_probe(settings: Settings, list_slug: str | None) -> tuple[Probe, list[Check]]:
    """The probe and the checks made while opening it (lists, database)."""
    lists, lists_check = settings_checks.open_lists(settings, list_slug)
    factory, database_check = settings_checks.open_database(settings)
    probe = Probe(settings, lists, factory, Resolver(settings.dns_server, settings.dns_timeout))
    return probe, [lists_check, database_check]


def checks(probe: Probe, opened: list[Check]) -> list[Check]:
    settings = probe.settings
    out = [settings_checks.secret_key(settings), settings_checks.base_url(settings), *opened]
    out += _guarded("settings.transport", lambda p: [settings_checks.transport(p)], probe)
    if uses_ses(settings):
        out += _guarded("ses", ses_account.checks, probe)
    else:
        out.append(
            not_checked(
                "ses",
                f"MAILER_TRANSPORT is {settings.transport}, not SES: the SES "
                "account, identities and events path",
            )
        )
    out += _guarded("domain", domain.checks, probe)
    if uses_ses(settings):
        out += _guarded("events", events.checks, probe)
    out += _guarded("web", web.checks, probe)
    return out


def examine(
    settings: Settings,
    *,
    list_slug: str | None = None,
    round_trip: RoundTripOptions | None = None,
) -> Report:
    """Run every check (and the round trip when asked); the CLI prints the Report."""
    probe, opened = open_probe(settings, list_slug)
    if round_trip is not None and uses_ses(settings) and round_trip.confirm is not None:
        question = sandbox_question(probe)
        if question:
            round_trip.confirm(question)  # before anything runs: a refusal costs nothing
    found = checks(probe, opened)
    if round_trip is not None:
        if probe.lists:
            trip = RoundTrip(probe, probe.lists[0], wait=round_trip.wait)
            found += _guarded("round_trip", lambda _p: trip.run(), probe)
        else:
            found.append(
                fail(
                    "round_trip.send",
                    "no list to send from (see settings.lists)",
                    "fix settings.lists",
                )
            )
    return Report(tuple(found))
