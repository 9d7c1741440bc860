"""Where SES notifications come in: an SQS queue (`mailer events poll`) or SNS posting to
`POST /webhooks/ses`. Both check where a message comes from, then hand it to `mailer.track.record`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailer.content.lists import BouncePolicy
from mailer.errors import ConfigError, MailerError
from mailer.store.db import transaction
from mailer.track.record import Inbound, TrackResult, record_notification
from mailer.track.sns import (
    NOTIFICATION,
    SUBSCRIPTION_CONFIRMATION,
    CertCache,
    SignatureError,
    confirm_subscription,
    fetch_cert_https,
    load_envelope,
    parse_sqs_body,
    topic_region,
    verify_envelope,
)

# The same logger as the recording side: one place to watch for everything about SES events.
log = logging.getLogger("mailer.track")


def _require_topics(allowed_topics: Iterable[str]) -> frozenset[str]:
    allowed = frozenset(t for t in allowed_topics if t)
    if not allowed:
        raise ConfigError(
            "MAILER_SNS_TOPIC_ARNS is empty: set it to the ARN(s) of the SNS topic(s) SES "
            "publishes to"
        )
    return allowed


# --- intake: SQS ---------------------------------------------------------------------------


def poll_queue(
    sqs_client,
    queue_url: str,
    session_factory: sessionmaker[Session],
    allowed_topics: Iterable[str],
    once: bool = False,
    wait_seconds: int = 20,
    *,
    policies_by_list_id: Mapping[int, BouncePolicy] | None = None,
    sns_client_for_region: Callable[[str], Any] | None = None,
    inbound: Inbound | None = None,
    fetch_cert: Callable[[str], bytes] = fetch_cert_https,
    cert_cache: CertCache | None = None,
) -> TrackResult:
    """Receive, check, record (one transaction per message), commit, then delete.

    A message that cannot be used is logged and left on the queue, so that the queue's redrive
    policy moves it to the dead-letter queue. `once`: return when a receive brings nothing new. An
    SNS envelope must carry a valid SNS signature for an allowed topic, as at the webhook: the
    queue's policy may admit more senders than SNS. Raw-delivery messages carry no envelope; for
    them the queue's access policy is the gate.
    """
    allowed = _require_topics(allowed_topics)
    check = _EnvelopeCheck(allowed, fetch_cert, cert_cache)
    total = TrackResult()
    seen: set[str] = set()
    while True:
        response = sqs_client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
        messages = response.get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        for message in fresh:
            if once:
                seen.add(message["MessageId"])
            total.merge(
                _handle_sqs_message(
                    sqs_client,
                    queue_url,
                    message,
                    session_factory,
                    check,
                    policies_by_list_id,
                    sns_client_for_region,
                    inbound,
                )
            )
        if once and not fresh:
            return total


@dataclass(frozen=True)
class _EnvelopeCheck:
    allowed: frozenset[str]
    fetch_cert: Callable[[str], bytes]
    cache: CertCache | None

    def __call__(self, envelope: dict) -> None:
        verify_envelope(envelope, self.allowed, fetch_cert=self.fetch_cert, cache=self.cache)


def _handle_sqs_message(
    sqs_client,
    queue_url: str,
    message: dict,
    session_factory,
    check: _EnvelopeCheck,
    policies,
    sns_client_for_region,
    inbound: Inbound | None,
) -> TrackResult:
    result = TrackResult()
    sqs_id = message.get("MessageId")
    try:
        notification = _notification_from_sqs(message.get("Body", ""), check, sns_client_for_region)
        if notification is not None:
            with transaction(session_factory) as session:
                result = record_notification(session, *notification, policies, inbound)
    except MailerError as exc:
        log.error(
            "SQS message %s left for the dead-letter queue: %s; body: %.500s",
            sqs_id,
            exc,
            message.get("Body", ""),
        )
        result.messages_left += 1
        return result
    except Exception:
        log.exception("SQS message %s not recorded (will be received again)", sqs_id)
        result.messages_left += 1
        return result
    sqs_client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    result.messages_deleted += 1
    return result


def _notification_from_sqs(
    body: str, check: _EnvelopeCheck, sns_client_for_region
) -> tuple[str, str | None] | None:
    """(SES message JSON, SNS message id) of an SQS message; None when there is nothing to
    record."""
    inbound = parse_sqs_body(body)
    if inbound.raw_delivery:
        return inbound.message, None
    check(
        inbound.envelope
    )  # SignatureError (topic, certificate URL, signature): left for the dead-letter queue
    if inbound.sns_type == SUBSCRIPTION_CONFIRMATION:
        if sns_client_for_region is None:
            raise MailerError(
                "a SubscriptionConfirmation arrived on the queue and no SNS client was given"
            )
        _, region = topic_region(inbound.topic_arn)
        arn = confirm_subscription(inbound.envelope, sns_client_for_region(region))
        log.info("confirmed SNS subscription %s", arn)
        return None
    if inbound.sns_type != NOTIFICATION:
        log.info("ignoring SNS %s for %s", inbound.sns_type, inbound.topic_arn)
        return None
    return inbound.message, inbound.sns_message_id


# --- intake: webhook -----------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookResponse:
    status: (
        int  # 200 handled | 403 not from SNS for an allowed topic | 5xx our failure, SNS retries
    )
    message: str
    result: TrackResult | None = None


def handle_sns_webhook(
    body: bytes | str,
    *,
    allowed_topics: Iterable[str],
    session_factory: sessionmaker[Session],
    policies_by_list_id: Mapping[int, BouncePolicy] | None = None,
    sns_client_for_region: Callable[[str], Any] | None = None,
    fetch_cert: Callable[[str], bytes] = fetch_cert_https,
    cert_cache: CertCache | None = None,
    inbound: Inbound | None = None,
) -> WebhookResponse:
    """Everything `POST /webhooks/ses` does; the route returns (message, status) as text/plain."""
    try:
        allowed = _require_topics(allowed_topics)
    except ConfigError as exc:
        log.error("SNS webhook cannot verify anything: %s", exc)
        return WebhookResponse(500, str(exc))
    try:
        envelope = load_envelope(body)
        verify_envelope(envelope, allowed, fetch_cert=fetch_cert, cache=cert_cache)
    except SignatureError as exc:
        log.warning("SNS webhook refused: %s", exc)
        return WebhookResponse(503 if exc.retryable else 403, str(exc))
    kind = envelope["Type"]
    if kind == SUBSCRIPTION_CONFIRMATION:
        return _confirm(envelope, sns_client_for_region)
    if kind != NOTIFICATION:
        log.info("SNS %s for %s acknowledged", kind, envelope["TopicArn"])
        return WebhookResponse(200, f"{kind} acknowledged")
    try:
        with transaction(session_factory) as session:
            result = record_notification(
                session,
                envelope["Message"],
                envelope.get("MessageId"),
                policies_by_list_id,
                inbound,
            )
    except MailerError as exc:
        log.error(
            "SNS message %s not recorded: %s; message: %.500s",
            envelope.get("MessageId"),
            exc,
            envelope.get("Message"),
        )
        return WebhookResponse(500, f"not recorded: {exc}")
    except Exception:
        log.exception("SNS message %s not recorded", envelope.get("MessageId"))
        return WebhookResponse(500, "not recorded")
    if result.mail_unsubscribed or result.mail_ignored:
        return WebhookResponse(
            200,
            f"unsubscribe request mail handled ({result.mail_unsubscribed} unsubscribed)",
            result,
        )
    return WebhookResponse(200, f"recorded {result.recorded} event(s)", result)


def _confirm(envelope: dict, sns_client_for_region) -> WebhookResponse:
    if sns_client_for_region is None:
        return WebhookResponse(500, "no SNS client to confirm the subscription with")
    try:
        _, region = topic_region(envelope["TopicArn"])
        arn = confirm_subscription(envelope, sns_client_for_region(region))
    except Exception as exc:
        log.exception("confirming the SNS subscription to %s failed", envelope["TopicArn"])
        return WebhookResponse(502, f"confirmation failed: {exc}")
    log.info("confirmed SNS subscription %s", arn)
    return WebhookResponse(200, "subscription confirmed")
