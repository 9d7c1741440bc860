"""`mailer autopilot --plan`: what the autopilot would do and when, from the lists' [schedule]
tables (ARCHITECTURE.md, "Layers and rules": the CLI is thin; the plan is mailer.autopilot's)."""

from __future__ import annotations

import datetime as dt

import click

from mailer.autopilot.plan import plan_lists
from mailer.cli.options import settings_of


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC)
    try:
        instant = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO-8601 instant like 2026-11-22T06:31:00Z"
        ) from None
    if instant.tzinfo is None:
        raise click.BadParameter(
            f"{value!r} has no offset; add Z or +01:00, e.g. 2026-11-22T06:31:00Z"
        )
    return instant


@click.command()
@click.option("--plan", "show_plan", is_flag=True, help="Print the due steps; run nothing.")
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=7,
    show_default=True,
    help="How many days from --now the plan covers.",
)
@click.option("--list", "list_slug", metavar="SLUG", help="Only this list (default: every list).")
@click.option(
    "--now",
    metavar="ISO-8601",
    callback=_instant,
    help="Plan from this instant, with an offset (default: now), e.g. 2026-11-22T06:31:00Z.",
)
@click.pass_context
def autopilot(
    ctx: click.Context, show_plan: bool, days: int, list_slug: str | None, now: dt.datetime
) -> None:
    """Each scheduled list's day: prepare, send (canary first), judge. Only --plan exists yet: one
    line per step, in the list's local time and in UTC; lists without [schedule] are named.

    Example:

    \b
        mailer autopilot --plan --days 7 --now 2026-11-22T06:31:00Z
    """
    if not show_plan:
        click.echo(
            "mailer autopilot: only --plan exists yet (running the schedule is not built); "
            "use mailer autopilot --plan",
            err=True,
        )
        ctx.exit(2)
    plan = plan_lists(settings_of(ctx).lists_dir, now, days, list_slug)
    for line in plan.lines():
        click.echo(line)
