"""`mailer events poll` and `mailer reconcile`: SES events in, ledger and suppressions updated."""

from __future__ import annotations

import logging

import click

from mailer import aws
from mailer.send import campaign
from mailer.cli.options import issue_option, list_option, open_db, pick_list, settings_of
from mailer.config import Settings
from mailer.content.lists import list_slugs, load_list
from mailer.store.db import transaction
from mailer.errors import ConfigError
from mailer.track.reconcile import mirror_to_ses, reconcile_send
from mailer.track.report import find_send
from mailer.audience.lists import ensure_list
from mailer.track.mail_unsubscribe import unsubscriber_for
from mailer.track.intake import poll_queue
from mailer.track.record import TrackResult, load_policies


def _aws_client(service: str, settings: Settings, region: str | None = None):
    # The queue URL names its region, which beats a missing AWS_REGION.
    return aws.client(service, region=region or aws.queue_region(settings.sqs_queue_url))


def _require_queue(settings: Settings) -> str:
    if not settings.sqs_queue_url:
        raise ConfigError("MAILER_SQS_QUEUE_URL is not set: set it to the URL of the SQS queue subscribed "
                          "to the SES events topic (or use the /webhooks/ses endpoint instead)")
    return settings.sqs_queue_url


def poll_once_or_forever(settings: Settings, factory, once: bool, wait_seconds: int,
                         mirror: bool = False) -> TrackResult:
    queue_url = _require_queue(settings)
    with transaction(factory) as session:
        policies = load_policies(session, [load_list(settings.lists_dir, s) for s in list_slugs(settings.lists_dir)])
    result = poll_queue(_aws_client("sqs", settings), queue_url, factory, settings.sns_topic_arns, once=once,
                        wait_seconds=wait_seconds, policies_by_list_id=policies,
                        sns_client_for_region=lambda region: _aws_client("sns", settings, region),
                        inbound=unsubscriber_for(settings))
    if mirror and result.suppressed:
        with transaction(factory) as session:
            mirrored = mirror_to_ses(session, _aws_client("sesv2", settings), result.suppressed)
        click.echo(f"mirrored {mirrored} suppression(s) to the SES account suppression list")
    return result


def _summary(result: TrackResult) -> str:
    return (f"{result.messages_deleted} message(s) handled, {result.messages_left} left for the dead-letter "
            f"queue; {result.recorded} event(s) recorded, {result.duplicates} duplicate(s), "
            f"{result.deliveries_updated} deliveries updated, {len(result.suppressed)} suppressed, "
            f"{len(result.unsubscribed)} unsubscribed by complaint"
            + (f", {result.mail_unsubscribed} by request mail ({result.mail_ignored} ignored)"
               if result.mail_unsubscribed or result.mail_ignored else ""))


@click.group()
def events() -> None:
    """SES bounce, complaint and delivery events."""


@events.command("poll")
@click.option("--once", is_flag=True, help="Stop when the queue has nothing new (default: run until Ctrl-C).")
@click.option("--wait-seconds", type=click.IntRange(0, 20), default=20, show_default=True,
              help="SQS long-poll wait per receive.")
@click.option("--mirror-to-ses", is_flag=True,
              help="Also add new hard bounces and complaints to the SES account-level suppression list.")
@click.pass_context
def events_poll(ctx: click.Context, once: bool, wait_seconds: int, mirror_to_ses: bool) -> None:
    """Receive SES events from MAILER_SQS_QUEUE_URL: record, commit, then delete each message."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = settings_of(ctx)
    factory = open_db(settings)
    try:
        result = poll_once_or_forever(settings, factory, once, wait_seconds, mirror_to_ses)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
        return
    click.echo(_summary(result))


@click.command()
@issue_option
@list_option
@click.option("--poll/--no-poll", default=None,
              help="Poll the SQS queue once first (default: when MAILER_SQS_QUEUE_URL is set).")
@click.pass_context
def reconcile(ctx: click.Context, issue_spec: str, list_slug: str | None, poll: bool | None) -> None:
    """Settle 'unknown' deliveries of an issue's send from the SES events received for them."""
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    content = campaign.load_issue_for(settings, list_def, issue_spec)
    factory = open_db(settings)
    if poll or (poll is None and settings.sqs_queue_url):
        click.echo(_summary(poll_once_or_forever(settings, factory, once=True, wait_seconds=1)))
    with transaction(factory) as session:
        send = find_send(session, ensure_list(session, list_def), content.date)
        result = reconcile_send(session, send.id)
    click.echo(f"{result.settled} unknown deliveries settled as sent, {result.failed} as failed; "
               f"{result.still_unknown} still unknown")
    if result.still_unknown:
        click.echo(f"no SES event proves those were accepted yet; wait for events, or send them again with "
                   f"`mailer send --issue {content.date} --resend-unknown` (they may arrive twice)", err=True)
