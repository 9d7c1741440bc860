"""The send's own brake: pause when its bounce or complaint rate crosses the list's thresholds.

Mailbox providers and SES judge a sender by these rates; a list that starts bouncing (a stale
import, a typo'd domain) must stop itself before the account is put under review. Bounces count
hard (Permanent) bounces only, as SES's reputation dashboard does.
"""

from __future__ import annotations

import math

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .content.lists import BouncePolicy
from .models import Delivery
from .report import ACCEPTED, event_recipients


def breach(session: Session, send_id: int, policy: BouncePolicy) -> str | None:
    """A pause reason when the send's rates are over the thresholds, else None.

    Runs every few dozen messages, so it must not cost more as the send grows: the events are few
    (counted through the event-type index), and the accepted deliveries are counted only as far as
    the verdict needs (`_accepted_up_to`), never the whole ledger of a 200,000-recipient send.
    """
    bounced = event_recipients(session, send_id, "bounce", "Permanent")
    complained = event_recipients(session, send_id, "complaint")
    if not bounced and not complained:
        return None
    enough = max(policy.min_sent_for_rate, _clears(bounced, policy.bounce_rate_threshold),
                 _clears(complained, policy.complaint_rate_threshold))
    sent = _accepted_up_to(session, send_id, enough)
    if sent < policy.min_sent_for_rate:
        return None
    if bounced / sent > policy.bounce_rate_threshold:
        return (f"guardrail: bounce rate {100 * bounced / sent:.1f} % ({bounced} of {sent} sent) is over the "
                f"list's {100 * policy.bounce_rate_threshold:g} %; check the list, then resume with "
                f"`mailer send --issue ... --no-guardrail`")
    if complained / sent > policy.complaint_rate_threshold:
        return (f"guardrail: complaint rate {100 * complained / sent:.2f} % ({complained} of {sent} sent) is over "
                f"the list's {100 * policy.complaint_rate_threshold:g} %; check the content and audience, then "
                f"resume with `mailer send --issue ... --no-guardrail`")
    return None


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
    accepted = (select(Delivery.id).where(Delivery.send_id == send_id, Delivery.state.in_(ACCEPTED))
                .limit(cap).subquery())
    return session.scalar(select(func.count()).select_from(accepted)) or 0
