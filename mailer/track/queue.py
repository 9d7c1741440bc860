"""SES events from the configured SQS queue, as one library call for `mailer events poll` and the
poll before `mailer reconcile`: the queue and topics from the settings, the lists' bounce policies,
the AWS clients (mailer.aws), and the optional copy of new suppressions to SES's own list.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from mailer import aws
from mailer.config import Settings
from mailer.content.lists import BouncePolicy, list_slugs, load_list
from mailer.errors import ConfigError
from mailer.store.db import transaction
from mailer.track.intake import RECEIVERS, poll_queue
from mailer.track.mail_unsubscribe import unsubscriber_for
from mailer.track.reconcile import mirror_to_ses
from mailer.track.record import TrackResult, load_policies
from mailer.track.sqs_lean import LeanSqs


@dataclass(frozen=True)
class PollOutcome:
    result: TrackResult
    mirrored: int | None = None  # suppressions copied to the SES account list; None: none to copy


def bounce_policies(factory: sessionmaker[Session], settings: Settings) -> dict[int, BouncePolicy]:
    """{database list id: bounce policy} of every list defined in lists/."""
    definitions = [load_list(settings.lists_dir, slug) for slug in list_slugs(settings.lists_dir)]
    with transaction(factory) as session:
        return load_policies(session, definitions)


def sns_client(region: str):
    """The SNS client that confirms a subscription to a topic in `region`."""
    return aws.client("sns", region=region, purpose="SNS")


def sqs_client(region: str | None, receivers: int):
    """The poller's SQS client: boto3's, with ReceiveMessage and DeleteMessageBatch on the lean
    path (`track.sqs_lean`) where that sends what boto3 sends."""
    on = aws.session()
    client = aws.client(
        "sqs", region=region, config=aws.sqs_poll_config(receivers), on=on, purpose="SQS"
    )
    return LeanSqs.for_client(on, client, pool_size=receivers) or client


def require_queue(settings: Settings) -> str:
    if not settings.sqs_queue_url:
        raise ConfigError(
            "MAILER_SQS_QUEUE_URL is not set: set it to the URL of the SQS queue "
            "subscribed to the SES events topic (or use the /webhooks/ses endpoint "
            "instead)"
        )
    return settings.sqs_queue_url


def poll_events(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    once: bool,
    wait_seconds: int,
    mirror: bool = False,
    receivers: int = RECEIVERS,
    batch_transactions: bool = True,
) -> PollOutcome:
    """Poll MAILER_SQS_QUEUE_URL (until it has nothing new when `once`, else until interrupted) and
    record what arrives; with `mirror`, copy new hard bounces and complaints to SES. `receivers`
    and `batch_transactions` as for `poll_queue` (ARCHITECTURE.md "Stages": track)."""
    queue_url = require_queue(settings)
    # The queue URL names its region, which beats a region missing from the chain.
    region = aws.queue_region(queue_url)
    result = poll_queue(
        sqs_client(region, receivers),
        queue_url,
        factory,
        settings.sns_topic_arns,
        once=once,
        wait_seconds=wait_seconds,
        policies_by_list_id=bounce_policies(factory, settings),
        sns_client_for_region=sns_client,
        inbound=unsubscriber_for(settings),
        receivers=receivers,
        batch_transactions=batch_transactions,
    )
    if not (mirror and result.suppressed):
        return PollOutcome(result)
    with transaction(factory) as session:
        mirrored = mirror_to_ses(
            session, aws.client("sesv2", region=region, purpose="SES"), result.suppressed
        )
    return PollOutcome(result, mirrored)
