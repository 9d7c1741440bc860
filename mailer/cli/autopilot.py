"""`mailer autopilot`: run each scheduled list's day (until stopped, or `--once` at one instant),
or `--plan` what it would do and when (ARCHITECTURE.md, "Layers and rules": the CLI is thin; the
day is mailer.autopilot's)."""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading

import click

from mailer.autopilot.plan import plan_lists
from mailer.autopilot.run import Clock, make_pilot, run_forever, run_once
from mailer.cli.options import open_db, settings_of


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
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


def _stop_on_signals() -> threading.Event:
    """SIGTERM (systemd's stop) and SIGINT set the event: the send in progress hands over no new
    message, finishes the ones in flight, and the autopilot exits."""
    stop = threading.Event()

    def handle(signum, _frame) -> None:
        logging.getLogger("mailer.autopilot").warning(
            "autopilot: %s received, finishing the messages in flight", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


@click.command()
@click.option("--once", is_flag=True, help="Do what is due at --now (default: now), then return.")
@click.option("--plan", "show_plan", is_flag=True, help="Print the due steps; run nothing.")
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=7,
    show_default=True,
    help="How many days from --now the plan covers (with --plan).",
)
@click.option("--list", "list_slug", metavar="SLUG", help="Only this list (default: every list).")
@click.option(
    "--rate",
    type=click.FloatRange(min=0.01),
    help="Messages per second of its sends (default: $MAILER_SEND_RATE, within the account's).",
)
@click.option(
    "--now",
    metavar="ISO-8601",
    callback=_instant,
    help="Act (or plan) as if it were this instant, with an offset, e.g. 2026-11-22T06:31:00Z; "
    "without --once the clock runs on from it.",
)
@click.pass_context
def autopilot(
    ctx: click.Context,
    once: bool,
    show_plan: bool,
    days: int,
    list_slug: str | None,
    rate: float | None,
    now: dt.datetime | None,
) -> None:
    """Each scheduled list's day: at T-prepare fetch trending, require and lint the issue (alerting
    the editors while it is missing or failing); at T send the canary, judge its SES events, then
    send the rest or pause and alert; then post a summary. Without --once it runs until SIGTERM.

    --plan prints the steps instead, in local and UTC time.

    Example:

    \b
        mailer autopilot --once --now 2026-11-22T06:31:00Z
    """
    settings = settings_of(ctx)
    if show_plan:
        plan = plan_lists(settings.lists_dir, now or dt.datetime.now(dt.UTC), days, list_slug)
        for line in plan.lines():
            click.echo(line)
        return
    pilot = make_pilot(settings, open_db(settings), Clock(now), _stop_on_signals(), rate)
    if once:
        lines = run_once(pilot, list_slug)
        for line in lines:
            click.echo(line)
        if not lines:
            click.echo(f"nothing due at {pilot.clock():%Y-%m-%d %H:%M} UTC")
    else:
        click.echo(f"autopilot running as {pilot.worker}; stop it with SIGTERM", err=True)
        run_forever(pilot, list_slug, echo=click.echo)
    if pilot.stop.is_set():
        click.echo("stopped: the messages in flight were finished; start again to resume", err=True)
