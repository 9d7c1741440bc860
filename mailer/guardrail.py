"""The send's own brake: pause when its bounce or complaint rate crosses the list's thresholds.

Mailbox providers and SES judge a sender by these rates; a list that starts bouncing (a stale
import, a typo'd domain) must stop itself before the account is put under review. Bounces count
hard (Permanent) bounces only, as SES's reputation dashboard does.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .content.lists import BouncePolicy
from .models import Delivery
from .report import ACCEPTED, event_recipients


def breach(session: Session, send_id: int, policy: BouncePolicy) -> str | None:
    """A pause reason when the send's rates are over the thresholds, else None."""
    sent = session.scalar(select(func.count()).select_from(Delivery)
                          .where(Delivery.send_id == send_id, Delivery.state.in_(ACCEPTED))) or 0
    if sent < policy.min_sent_for_rate:
        return None
    bounced = event_recipients(session, send_id, "bounce", "Permanent")
    if bounced / sent > policy.bounce_rate_threshold:
        return (f"guardrail: bounce rate {100 * bounced / sent:.1f} % ({bounced} of {sent} sent) is over the "
                f"list's {100 * policy.bounce_rate_threshold:g} %; check the list, then resume with "
                f"`mailer send --issue ... --no-guardrail`")
    complained = event_recipients(session, send_id, "complaint")
    if complained / sent > policy.complaint_rate_threshold:
        return (f"guardrail: complaint rate {100 * complained / sent:.2f} % ({complained} of {sent} sent) is over "
                f"the list's {100 * policy.complaint_rate_threshold:g} %; check the content and audience, then "
                f"resume with `mailer send --issue ... --no-guardrail`")
    return None
