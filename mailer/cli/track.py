"""Commands about what happened after sending: reports and the suppression list."""

from __future__ import annotations

import json

import click

from mailer.send import campaign
from mailer.cli.options import email_argument, issue_option, list_option, open_db, pick_list, settings_of
from mailer.store.db import transaction
from mailer.errors import MailerError
from mailer.track.report import build_report, find_send
from mailer.audience.lists import ensure_list
from mailer.audience.suppressions import list_suppressions, suppress, unsuppress

REASONS = ("hard-bounce", "soft-bounce", "complaint", "manual", "erased")


@click.command()
@issue_option
@list_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def report(ctx: click.Context, issue_spec: str, list_slug: str | None, as_json: bool) -> None:
    """Sent, delivered, bounced (hard/soft), complained, unsubscribed, failed and unknown, with rates."""
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    content = campaign.load_issue_for(settings, list_def, issue_spec)
    with transaction(open_db(settings)) as session:
        result = build_report(session, find_send(session, ensure_list(session, list_def), content.date))
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(f"{list_def.name} {content.date}")
        for line in result.lines():
            click.echo(line)


@click.group()
def suppressions() -> None:
    """The suppression list: addresses that are never mailed."""


@suppressions.command("list")
@click.option("--reason", type=click.Choice(REASONS), help="Only suppressions with this reason.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.pass_context
def suppressions_list(ctx: click.Context, reason: str | None, as_json: bool) -> None:
    """List suppressed addresses (erased ones show as their hash only)."""
    with transaction(open_db(settings_of(ctx))) as session:
        rows = list_suppressions(session, reason)
    for row in rows:
        shown = row.email or f"(erased) {row.email_hash[:16]}…"
        if as_json:
            click.echo(json.dumps({"email": row.email, "hash": row.email_hash, "reason": row.reason,
                                   "detail": row.detail, "created_at": row.created_at.isoformat()}))
        else:
            click.echo(f"{row.created_at:%Y-%m-%d %H:%M}  {row.reason:<12} {shown}"
                       + (f"  ({row.detail})" if row.detail else ""))
    if not as_json:
        click.echo(f"{len(rows)} suppressed address(es)", err=True)


@suppressions.command("add")
@click.argument("email")
@click.option("--reason", type=click.Choice(REASONS), default="manual", show_default=True,
              help="Why the address is suppressed.")
@click.option("--detail", help="A note kept with the suppression.")
@click.pass_context
def suppressions_add(ctx: click.Context, email: str, reason: str, detail: str | None) -> None:
    """Never mail EMAIL again (on every list)."""
    address = email_argument(email)
    with transaction(open_db(settings_of(ctx))) as session:
        added = suppress(session, address, reason, detail)
    click.echo(f"{address}: " + ("suppressed" if added else "was already suppressed"))


@suppressions.command("remove")
@click.argument("email")
@click.pass_context
def suppressions_remove(ctx: click.Context, email: str) -> None:
    """Allow EMAIL to be mailed again (it still needs a confirmed subscription)."""
    address = email_argument(email)
    with transaction(open_db(settings_of(ctx))) as session:
        removed = unsuppress(session, address)
    if not removed:
        raise MailerError(f"{address} is not on the suppression list; see `mailer suppressions list`")
    click.echo(f"{address}: removed from the suppression list")
