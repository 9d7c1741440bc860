"""`mailer events poll`, `mailer report` and `mailer reconcile`: what happened after sending.

Each command parses its options, makes one library call (mailer.track) and prints the outcome.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from mailer.cli.options import (
    issue_option,
    list_option,
    open_db,
    pick_list,
    settings_of,
    write_file_atomically,
)
from mailer.content.load import issue_date_for
from mailer.track.clicks import click_report
from mailer.track.queue import PollOutcome, poll_events
from mailer.track.reconcile import reconcile_issue
from mailer.track.report import report_issue
from mailer.track.report_page import report_page


def _echo_poll(outcome: PollOutcome) -> None:
    if outcome.mirrored is not None:
        click.echo(
            f"mirrored {outcome.mirrored} suppression(s) to the SES account suppression list"
        )
    click.echo(outcome.result.summary())


@click.group()
def events() -> None:
    """SES bounce, complaint and delivery events.

    Example:

    \b
        mailer events poll --once
    """


@events.command("poll")
@click.option(
    "--once", is_flag=True, help="Stop when the queue has nothing new (default: run until Ctrl-C)."
)
@click.option(
    "--wait-seconds",
    type=click.IntRange(0, 20),
    default=20,
    show_default=True,
    help="SQS long-poll wait per receive.",
)
@click.option(
    "--mirror-to-ses",
    is_flag=True,
    help="Also add new hard bounces and complaints to the SES account-level suppression list.",
)
@click.pass_context
def events_poll(ctx: click.Context, once: bool, wait_seconds: int, mirror_to_ses: bool) -> None:
    """Receive SES events from MAILER_SQS_QUEUE_URL: record, commit, then delete each message.

    Example:

    \b
        mailer events poll --once --wait-seconds 5
    """
    settings = settings_of(ctx)
    try:
        outcome = poll_events(
            settings, open_db(settings), once=once, wait_seconds=wait_seconds, mirror=mirror_to_ses
        )
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
        return
    _echo_poll(outcome)


@click.command()
@issue_option
@list_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the report (or with --links, the clicks) as JSON.",
)
@click.option(
    "--links",
    is_flag=True,
    help="Clicks per link and per section, in issue order, instead of the delivery report.",
)
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="OUT.html",
    help="Write one self-contained page with charts (deliveries, bounces, clicks, the trend).",
)
@click.pass_context
def report(
    ctx: click.Context,
    issue_spec: str,
    list_slug: str | None,
    as_json: bool,
    links: bool,
    html_out: Path | None,
) -> None:
    """Sent, delivered, bounced (hard/soft), complained, unsubscribed, failed and unknown, with
    rates; --links: clicks per link and section; --html: the page with charts.

    Example:

    \b
        mailer report --issue today --links --json
    """
    if html_out and (as_json or links):
        raise click.UsageError("--html writes a page; leave out --json and --links with it")
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    issue_date = issue_date_for(settings, list_def, issue_spec)
    if html_out:
        page = report_page(open_db(settings), list_def.slug, list_def.name, issue_date)
        write_file_atomically(html_out, page, "--html")
        click.echo(f"wrote {html_out}")
        return
    if links:
        clicks = click_report(open_db(settings), list_def.slug, issue_date)
        if as_json:
            click.echo(json.dumps(clicks.as_dict(), indent=2))
            if not clicks.tracked:
                click.echo(clicks.untracked_line(), err=True)
            return
        if not clicks.tracked:
            click.echo(f"{list_def.name} {issue_date}: {clicks.untracked_line()}")
            return
        click.echo(f"{list_def.name} {issue_date}")
        for line in clicks.lines():
            click.echo(line)
        return
    result = report_issue(open_db(settings), list_def.slug, issue_date)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(f"{list_def.name} {issue_date}")
    for line in result.lines():
        click.echo(line)


@click.command()
@issue_option
@list_option
@click.option(
    "--poll/--no-poll",
    default=None,
    help="Poll the SQS queue once first (default: when MAILER_SQS_QUEUE_URL is set).",
)
@click.pass_context
def reconcile(
    ctx: click.Context, issue_spec: str, list_slug: str | None, poll: bool | None
) -> None:
    """Settle 'unknown' deliveries of an issue's send from the SES events received for them.

    Example:

    \b
        mailer reconcile --issue latest --no-poll
    """
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    issue_date = issue_date_for(settings, list_def, issue_spec)
    factory = open_db(settings)
    if poll or (poll is None and settings.sqs_queue_url):
        _echo_poll(poll_events(settings, factory, once=True, wait_seconds=1))
    result = reconcile_issue(factory, list_def.slug, issue_date)
    click.echo(result.summary())
    advice = result.advice(issue_date)
    if advice:
        click.echo(advice, err=True)
