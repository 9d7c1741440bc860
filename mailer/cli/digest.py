"""`mailer digest send`: a thin wrapper over mailer.send.digest (ARCHITECTURE.md, "Preferences")."""

from __future__ import annotations

import datetime as dt
import sys

import click

from mailer.cli.options import list_option, open_db, pick_list, settings_of
from mailer.cli.send import _confirm
from mailer.send import digest as digest_send


@click.group()
def digest() -> None:
    """The weekly digest: the week's issues for the readers who chose it in /manage.

    Example:

    \b
        mailer digest send --list ai-morning-post --dry-run
    """


@digest.command("send")
@list_option
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The digest day, YYYY-MM-DD (default: today in the list's time zone); it must be the "
    "list's [digest] day.",
)
@click.option("--dry-run", is_flag=True, help="Render and plan, send nothing, change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before sending to real readers.")
@click.pass_context
def send_digest(
    ctx: click.Context, list_slug: str | None, day: dt.datetime | None, dry_run: bool, yes: bool
) -> None:
    """Send the weekly digest of the issues sent in the seven days before --date to the weekly
    readers not paused then; run again to resume. Never sends twice.

    Example:

    \b
        mailer digest send --list ai-morning-post --date 2026-11-22 --yes
    """
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    date = day.date() if day else digest_send.local_today(list_def)
    factory = open_db(settings)
    if dry_run:
        click.echo(digest_send.dry_run_line(factory, settings, list_def, date))
        return
    summary = digest_send.launch_digest(
        factory, settings, list_def, date, confirm=None if yes else _confirm
    )
    click.echo(summary.line())
    if not summary.finished:
        click.echo("the digest did not finish: rerun the same command to resume", err=True)
        sys.exit(1)
