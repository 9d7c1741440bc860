"""The send's own brake: pause when its bounce or complaint rate crosses the list's thresholds.

Mailbox providers and SES judge a sender by these rates; a list that starts bouncing (a stale
import, a typo'd domain) must stop itself before the account is put under review. Bounces count
hard (Permanent) bounces only, as SES's reputation dashboard does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailer.content.lists import BouncePolicy
from mailer.store.events import event_recipients
from mailer.store.models import ACCEPTED, Delivery, EventKind, Send

# A send smaller than min_sent_for_rate is judged on fewer events than that minimum was meant to
# wait for, so it needs two of a kind: one typo'd address in 16 is 6 %, and one complaint is one
# person.
SMALL_SEND_MIN_EVENTS = 2
EVERY_MESSAGE_UNTIL = (
    100  # the first messages of every send are checked one by one (cheap: few rows yet)
)
MAX_BETWEEN_CHECKS = 50


def check_interval(handed_over: int, total: int) -> int:
    """Messages handed over between two evaluations: each of the first EVERY_MESSAGE_UNTIL, then a
    twentieth of the send, at most every MAX_BETWEEN_CHECKS (a 200,000-recipient send: 4,000
    checks)."""
    if handed_over < EVERY_MESSAGE_UNTIL:
        return 1
    return max(1, min(MAX_BETWEEN_CHECKS, total // 20))


class Cadence:
    """Calls `evaluate` (the breach query) when the send has moved on by check_interval messages;
    the first call always evaluates, so a paused send is not resumed by a rerun."""

    def __init__(self, evaluate: Callable[[], str | None], total: int):
        self.evaluate, self.total = evaluate, total
        self.evaluations = 0
        self._checked_at: int | None = None

    def __call__(self, handed_over: int) -> str | None:
        if self._checked_at is not None and handed_over - self._checked_at < check_interval(
            handed_over, self.total
        ):
            return None
        self._checked_at = handed_over
        self.evaluations += 1
        return self.evaluate()


def breach(session: Session, send_id: int, policy: BouncePolicy) -> str | None:
    """A pause reason when the send's rates are over the thresholds, else None.

    The rate is taken over the accepted messages, but never over fewer than min_sent_for_rate, or
    the whole send when it is smaller: until then the messages not yet accepted count as clean, so
    the rate is the least the send can still have there and a pause is a verdict already certain. A
    16-recipient send thus pauses at its second hard bounce (2 of 16 = 12.5 %), not never.

    Runs every message early on and then every few dozen, so it must not cost more as the send
    grows:
    the events are few (counted through the event-type index), and the accepted deliveries are
    counted
    only as far as the verdict needs (`_accepted_up_to`), never the whole ledger of a
    200,000-recipient
    send.
    """
    bounced = event_recipients(session, send_id, EventKind.BOUNCE, "Permanent")
    complained = event_recipients(session, send_id, EventKind.COMPLAINT)
    if not bounced and not complained:
        return None
    planned = session.scalar(select(Send.planned_count).where(Send.id == send_id)) or 0
    least = SMALL_SEND_MIN_EVENTS if planned < policy.min_sent_for_rate else 1
    enough = max(
        1,
        policy.min_sent_for_rate,
        _clears(bounced, policy.bounce_rate_threshold),
        _clears(complained, policy.complaint_rate_threshold),
    )
    sent = _accepted_up_to(session, send_id, enough)
    judged = max(sent, min(policy.min_sent_for_rate, planned))
    if not judged:
        return None
    resume = "resume with `mailer send --issue ... --no-guardrail`"
    if bounced >= least and bounced / judged > policy.bounce_rate_threshold:
        return (
            f"guardrail: bounce rate {_rate(bounced, sent, judged, 1)} is over the list's "
            f"{100 * policy.bounce_rate_threshold:g} %; check the list, then {resume}"
        )
    if complained >= least and complained / judged > policy.complaint_rate_threshold:
        return (
            f"guardrail: complaint rate {_rate(complained, sent, judged, 2)} is over the list's "
            f"{100 * policy.complaint_rate_threshold:g} %; check the content and audience, then "
            f"{resume}"
        )
    return None


def _rate(events: int, sent: int, judged: int, digits: int) -> str:
    if judged == sent:
        return f"{100 * events / sent:.{digits}f} % ({events} of {sent} sent)"
    return (
        f"{100 * events / judged:.{digits}f} % or more ({events} of the first {judged} messages, "
        f"{sent} accepted so far)"
    )


def _clears(count: int, threshold: float) -> int:
    """The smallest number of accepted messages at which `count` events are within `threshold`
    (count / sent <= threshold); 0 when there are no events."""
    if count == 0:
        return 0
    if threshold <= 0:
        return 0  # any event breaches: only min_sent_for_rate matters
    return math.floor(count / threshold) + 1


def _accepted_up_to(session: Session, send_id: int, cap: int) -> int:
    """The send's accepted deliveries, counted up to `cap`: beyond it the verdict cannot change."""
    accepted = (
        select(Delivery.id)
        .where(Delivery.send_id == send_id, Delivery.state.in_(ACCEPTED))
        .limit(cap)
        .subquery()
    )
    return session.scalar(select(func.count()).select_from(accepted)) or 0


OUTCOME_EVENTS = (EventKind.DELIVERY, EventKind.BOUNCE, EventKind.COMPLAINT)
NO_EVENTS = "canary: none of its"  # how the verdict "no events yet" begins (the autopilot waits)


def canary_verdict(
    session: Session, send_id: int, policy: BouncePolicy, require_events: bool
) -> str | None:
    """The autopilot's judgement of a canary (the send's accepted messages so far): a reason to
    stop before the rest goes, or None when it is clean.

    The canary is the sample, so its rates are taken over its own accepted messages, with the
    guardrail's thresholds; a canary smaller than min_sent_for_rate needs SMALL_SEND_MIN_EVENTS of
    a kind, as a small send does (one typo'd address in a canary of 5 is not a verdict on the
    list). `require_events`: when SES reports outcomes (an SES transport, an events queue), a
    canary none of whose messages has a delivery, bounce or complaint event is not clean but
    unjudged: the events are not arriving, and the rest would go out blind.
    """
    sent = _accepted_up_to(session, send_id, cap=10**9)
    if not sent:
        return "canary: no message of the canary was accepted; nothing to judge the list on"
    bounced = event_recipients(session, send_id, EventKind.BOUNCE, "Permanent")
    complained = event_recipients(session, send_id, EventKind.COMPLAINT)
    least = SMALL_SEND_MIN_EVENTS if sent < policy.min_sent_for_rate else 1
    resume = "check the list, then send the rest with `mailer send --issue ...`"
    if bounced >= least and bounced / sent > policy.bounce_rate_threshold:
        return (
            f"canary: bounce rate {100 * bounced / sent:.1f} % ({bounced} of {sent}) is over the "
            f"list's {100 * policy.bounce_rate_threshold:g} %; {resume}"
        )
    if complained >= least and complained / sent > policy.complaint_rate_threshold:
        return (
            f"canary: complaint rate {100 * complained / sent:.2f} % ({complained} of {sent}) is "
            f"over the list's {100 * policy.complaint_rate_threshold:g} %; {resume}"
        )
    if require_events and not any(
        event_recipients(session, send_id, kind) for kind in OUTCOME_EVENTS
    ):
        return (
            f"{NO_EVENTS} {sent} messages has a delivery, bounce or complaint event yet; "
            "check that SES publishes events to the SNS topic and the queue "
            "(`mailer events poll --once`), then send the rest with `mailer send --issue ...`"
        )
    return None
