"""`mailer suppressions list|add|remove`: the addresses that are never mailed (mailer.audience)."""

from __future__ import annotations

import json

import click

from mailer.audience.suppressions import list_suppressions, suppress, unsuppress
from mailer.cli.options import email_argument, open_db, settings_of
from mailer.errors import MailerError
from mailer.store.db import transaction
from mailer.store.models import SuppressionReason

REASONS = tuple(reason.value for reason in SuppressionReason)


@click.group()
def suppressions() -> None:
    """The suppression list: addresses that are never mailed.

    Example:

    \b
        mailer suppressions list --reason hard-bounce
    """


@suppressions.command("list")
@click.option("--reason", type=click.Choice(REASONS), help="Only suppressions with this reason.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.pass_context
def suppressions_list(ctx: click.Context, reason: str | None, as_json: bool) -> None:
    """List suppressed addresses (erased ones show as their hash only).

    Example:

    \b
        mailer suppressions list --json
    """
    with transaction(open_db(settings_of(ctx))) as session:
        rows = list_suppressions(session, reason)
    for row in rows:
        shown = row.email or f"(erased) {row.email_hash[:16]}…"
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "email": row.email,
                        "hash": row.email_hash,
                        "reason": row.reason,
                        "detail": row.detail,
                        "created_at": row.created_at.isoformat(),
                    }
                )
            )
        else:
            click.echo(
                f"{row.created_at:%Y-%m-%d %H:%M}  {row.reason:<12} {shown}"
                + (f"  ({row.detail})" if row.detail else "")
            )
    if not as_json:
        click.echo(f"{len(rows)} suppressed address(es)", err=True)


@suppressions.command("add")
@click.argument("email")
@click.option(
    "--reason",
    type=click.Choice(REASONS),
    default=SuppressionReason.MANUAL.value,
    show_default=True,
    help="Why the address is suppressed.",
)
@click.option("--detail", help="A note kept with the suppression.")
@click.pass_context
def suppressions_add(ctx: click.Context, email: str, reason: str, detail: str | None) -> None:
    """Never mail EMAIL again (on every list).

    Example:

    \b
        mailer suppressions add someone@example.com --detail "asked by phone"
    """
    address = email_argument(email)
    with transaction(open_db(settings_of(ctx))) as session:
        added = suppress(session, address, reason, detail)
    click.echo(f"{address}: " + ("suppressed" if added else "was already suppressed"))


@suppressions.command("remove")
@click.argument("email")
@click.pass_context
def suppressions_remove(ctx: click.Context, email: str) -> None:
    """Allow EMAIL to be mailed again (it still needs a confirmed subscription).

    Example:

    \b
        mailer suppressions remove someone@example.com
    """
    address = email_argument(email)
    with transaction(open_db(settings_of(ctx))) as session:
        removed = unsuppress(session, address)
    if not removed:
        raise MailerError(
            f"{address} is not on the suppression list; see `mailer suppressions list`"
        )
    click.echo(f"{address}: removed from the suppression list")
