"""`mailer doctor`: a thin wrapper over mailer.doctor (runner.examine), and the report it prints."""

from __future__ import annotations

import dataclasses
import json
import sys

import click

from mailer.cli.options import settings_of
from mailer.cli.send import Refused
from mailer.config import Settings, dns_server
from mailer.doctor.check import Status
from mailer.doctor.round_trip import WAIT
from mailer.doctor.runner import Report, RoundTripOptions, examine

_MARK = {Status.OK: "ok", Status.WARN: "warn", Status.FAIL: "FAIL"}

dns_server_option = click.option(
    "--dns-server",
    metavar="HOST[:PORT]",
    help="The DNS resolver to ask for DKIM, SPF and DMARC records, by IP address "
    "(default: $MAILER_DNS_SERVER, else the system's resolver).",
)
dns_timeout_option = click.option(
    "--dns-timeout",
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="How long one DNS lookup may take (default: $MAILER_DNS_TIMEOUT, else 5).",
)


def with_dns(settings: Settings, server: str | None, timeout: float | None) -> Settings:
    """The settings with --dns-server / --dns-timeout applied (a flag beats the environment)."""
    changes: dict = {}
    if server is not None:
        try:
            changes["dns_server"] = dns_server(server)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--dns-server") from None
    if timeout is not None:
        changes["dns_timeout"] = timeout
    return dataclasses.replace(settings, **changes)


def print_report(report: Report) -> None:
    width = max((len(check.name) for check in report.checks), default=0)
    for check in report.checks:
        click.echo(f"{_MARK[check.status]:<4}  {check.name:<{width}}  {check.detail}")
        if check.fix and check.status != Status.OK:
            click.echo(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    click.echo(report.summary())


def _refuse(question: str) -> None:
    raise Refused(f"would {question}; pass --yes to run it")


@click.command()
@click.option(
    "--list",
    "list_slug",
    metavar="SLUG",
    help="Check this list's From domain only (default: every list in lists/).",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"checks": [...]} as JSON.')
@click.option(
    "--round-trip",
    is_flag=True,
    help="Then send to the SES mailbox simulator (success, bounce, complaint), wait for the "
    "events, prove the ledger, suppressions and report react, and remove what it made.",
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Run the round trip in the SES sandbox too (without --yes it refuses there).",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=1),
    default=WAIT,
    show_default=True,
    metavar="SECONDS",
    help="How long the round trip waits for its SES events.",
)
@dns_server_option
@dns_timeout_option
@click.pass_context
def doctor(
    ctx: click.Context,
    list_slug: str | None,
    as_json: bool,
    round_trip: bool,
    yes: bool,
    wait: float,
    dns_server: str | None,
    dns_timeout: float | None,
) -> None:
    """Check the whole setup (settings, SES account, From domain's DKIM, SPF and DMARC, the events
    path from SES to the queue, the web app's one-click unsubscribe); each check is ok, warn or
    fail with the fix. Exit 0 when nothing fails, 1 otherwise.

    Example:

    \b
        mailer doctor --round-trip --dns-server 1.1.1.1
    """
    if yes and not round_trip:
        raise click.UsageError("--yes goes with --round-trip")
    settings = with_dns(settings_of(ctx), dns_server, dns_timeout)
    trip = RoundTripOptions(confirm=None if yes else _refuse, wait=wait) if round_trip else None
    report = examine(settings, list_slug=list_slug, round_trip=trip)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        print_report(report)
    sys.exit(1 if report.failed else 0)
