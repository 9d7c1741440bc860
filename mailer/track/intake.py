"""Where SES notifications come in: an SQS queue (`mailer events poll`) or SNS posting to
`POST /webhooks/ses`. Both check where a message comes from, then hand it to `mailer.track.record`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from mailer.content.lists import BouncePolicy
from mailer.errors import ConfigError, MailerError
from mailer.store.db import transaction
from mailer.track.group_commit import GroupCommit
from mailer.track.record import (
    Inbound,
    Notification,
    TrackResult,
    apply_notification,
    read_notification,
    record_notification,
    require_inbound,
)
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


RECEIVERS = 32  # receiving threads of one poll: with 10 messages a receive, round trips overlap


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
    receivers: int = RECEIVERS,
    batch_transactions: bool = True,
) -> TrackResult:
    """Receive (10 messages a call, `receivers` threads), check, record, commit, then delete.

    Each received batch is recorded in one transaction, together with the batches of the other
    receivers that wait for the writer at the time (`track.group_commit`), and the messages it
    committed are deleted with one DeleteMessageBatch (ARCHITECTURE.md "Stages": track). A message
    that cannot be used is logged and left on the queue before the transaction opens, so that the
    queue's redrive policy moves it to the dead-letter queue; when the group's transaction fails,
    its messages are recorded one transaction each, and those that fail again are left to be
    received again.
    Several pollers (threads or processes) may share a queue: an event is stored once (its dedup
    key), so a message received twice changes nothing the second time. `batch_transactions=False`
    is the path of one transaction and one DeleteMessage per message (for the benchmark).

    `once`: each receiver returns when a receive brings nothing new. An SNS envelope must carry a
    valid SNS signature for an allowed topic, as at the webhook: the queue's policy may admit more
    senders than SNS. Raw-delivery messages carry no envelope; for them the queue's access policy
    is the gate.
    """
    allowed = _require_topics(allowed_topics)
    poller = _Poller(
        sqs_client=sqs_client,
        queue_url=queue_url,
        factory=session_factory,
        check=_EnvelopeCheck(allowed, fetch_cert, cert_cache),
        policies=policies_by_list_id,
        sns_client_for_region=sns_client_for_region,
        inbound=inbound,
        batch_transactions=batch_transactions,
    )
    return poller.run(once=once, wait_seconds=wait_seconds, receivers=max(1, receivers))


@dataclass(frozen=True)
class _EnvelopeCheck:
    allowed: frozenset[str]
    fetch_cert: Callable[[str], bytes]
    cache: CertCache | None

    def __call__(self, envelope: dict) -> None:
        verify_envelope(envelope, self.allowed, fetch_cert=self.fetch_cert, cache=self.cache)


@dataclass
class _Poller:
    """The receivers of one poll and what they share: the seen set of `once`, the total, the
    writer lock (one transaction at a time in this process: the GIL runs one recording at a time
    anyway, and SQLite has one writer; other processes wait for it through busy_timeout) and the
    group commit that uses it."""

    sqs_client: Any
    queue_url: str
    factory: Any
    check: _EnvelopeCheck
    policies: Mapping[int, BouncePolicy] | None
    sns_client_for_region: Callable[[str], Any] | None
    inbound: Inbound | None
    batch_transactions: bool
    total: TrackResult = field(default_factory=TrackResult)
    seen: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    writer: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    failure: BaseException | None = None
    group: GroupCommit = field(init=False)

    def __post_init__(self) -> None:
        self.group = GroupCommit(self.factory, self.policies, self.inbound, self.writer)

    def run(self, *, once: bool, wait_seconds: int, receivers: int) -> TrackResult:
        if receivers == 1:
            self._receive_loop(once, wait_seconds)
            return self.total
        threads = [
            threading.Thread(
                target=self._guarded,
                args=(once, wait_seconds),
                name=f"sqs-receiver-{n}",
                daemon=True,
            )
            for n in range(receivers)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
        except KeyboardInterrupt:
            self.stop.set()  # the receivers finish the batch in hand; a second Ctrl-C exits
            for thread in threads:
                thread.join()
            raise
        if self.failure is not None:
            raise self.failure
        return self.total

    def _guarded(self, once: bool, wait_seconds: int) -> None:
        try:
            self._receive_loop(once, wait_seconds)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            with self.lock:
                self.failure = self.failure or exc
            self.stop.set()

    def _receive_loop(self, once: bool, wait_seconds: int) -> None:
        while not self.stop.is_set():
            response = self.sqs_client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
            )
            messages = response.get("Messages", [])
            with self.lock:
                fresh = [m for m in messages if m["MessageId"] not in self.seen]
                if once:
                    self.seen.update(m["MessageId"] for m in fresh)
            if fresh:
                result = self._handle(fresh)
                with self.lock:
                    self.total.merge(result)
            if once and not fresh:
                return

    def _handle(self, messages: list[dict]) -> TrackResult:
        if not self.batch_transactions:
            result = TrackResult()
            for message in messages:
                result.merge(self._one_by_one(message))
            return result
        result = TrackResult()
        usable: list[tuple[dict, Notification | None]] = []
        for message in messages:
            try:
                usable.append((message, self._read(message)))
            except Exception as exc:  # noqa: BLE001 - logged by _left, the message stays
                _left(message, exc, result)
        recorded = [(m, n) for m, n in usable if n is not None]
        done = [m for m, n in usable if n is None]  # nothing to record: confirmed or ignored
        if recorded:
            batch = self.group.record([n for _, n in recorded])
            if batch is not None:
                result.merge(batch)
                done.extend(m for m, _ in recorded)
            else:  # the group's transaction failed (logged): one transaction per message
                for message, notification in recorded:
                    one = self._record_alone(message, notification)
                    result.merge(one)
                    if one.messages_left == 0:
                        done.append(message)
        result.messages_deleted += self._delete(done)
        return result

    def _read(self, message: dict) -> Notification | None:
        """What a message carries (None: nothing to record); MailerError: left for the DLQ."""
        found = _notification_from_sqs(
            message.get("Body", ""), self.check, self.sns_client_for_region
        )
        if found is None:
            return None
        notification = read_notification(*found)
        require_inbound(notification, self.inbound)
        return notification

    def _record_alone(self, message: dict, notification: Notification) -> TrackResult:
        result = TrackResult()
        try:
            with self.writer, transaction(self.factory) as session:
                result = apply_notification(session, notification, self.policies, self.inbound)
        except Exception as exc:  # noqa: BLE001 - logged by _left, the message stays
            _left(message, exc, result)
        return result

    def _one_by_one(self, message: dict) -> TrackResult:
        """The path of one transaction and one DeleteMessage per message."""
        result = TrackResult()
        try:
            notification = self._read(message)
            if notification is not None:
                with self.writer, transaction(self.factory) as session:
                    result = apply_notification(session, notification, self.policies, self.inbound)
        except Exception as exc:  # noqa: BLE001 - logged by _left, the message stays
            _left(message, exc, result)
            return result
        self.sqs_client.delete_message(
            QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
        )
        result.messages_deleted += 1
        return result

    def _delete(self, messages: list[dict]) -> int:
        """DeleteMessageBatch (at most 10, as received); the number deleted. A message SQS did not
        delete comes back after its visibility timeout and is then a duplicate: no effect."""
        if not messages:
            return 0
        response = self.sqs_client.delete_message_batch(
            QueueUrl=self.queue_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
            ],
        )
        for failed in response.get("Failed", []):
            message = messages[int(failed["Id"])]
            log.warning(
                "SQS message %s recorded but not deleted (%s: %s): it will be received again",
                message.get("MessageId"),
                failed.get("Code"),
                failed.get("Message"),
            )
        return len(response.get("Successful", []))


def _left(message: dict, exc: Exception, result: TrackResult) -> None:
    """Log a message that stays on the queue (as the old per-message path did)."""
    sqs_id = message.get("MessageId")
    if isinstance(exc, MailerError):
        log.error(
            "SQS message %s left for the dead-letter queue: %s; body: %.500s",
            sqs_id,
            exc,
            message.get("Body", ""),
        )
    else:
        log.error("SQS message %s not recorded (will be received again)", sqs_id, exc_info=exc)
    result.messages_left += 1


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
