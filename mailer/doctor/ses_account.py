"""The SES account as sesv2 GetAccount describes it: the region, production access or the
sandbox, sending enabled, and the quotas against the lists' size and MAILER_SEND_RATE.
"""

from __future__ import annotations

from sqlalchemy import func, select

from mailer.doctor.check import Check, fail, not_checked, ok, warn
from mailer.doctor.probe import SETTINGS_FILE, AwsProblem, Probe
from mailer.send.ledger import eligible_subscribers
from mailer.store.models import MailingList
from mailer.track.sns import SignatureError, topic_region

QUOTA_CONSOLE = "Service Quotas console > AWS services > Amazon Simple Email Service"


def checks(probe: Probe) -> list[Check]:
    account = probe.account
    names = ("ses.region", "ses.production_access", "ses.sending_enabled", "ses.quota")
    if isinstance(account, AwsProblem):
        because = f"SES did not answer GetAccount (see {probe.account_check})"
        if probe.account_check == "settings.transport":
            return [not_checked(name, because) for name in names]
        # SMTP through SES: the transport check does not ask GetAccount; the first check tells
        return [
            fail(names[0], f"SES does not answer: {account.detail}", account.fix),
            *(not_checked(name, because) for name in names[1:]),
        ]
    return [
        region(probe),
        production_access(probe, account),
        sending_enabled(probe, account),
        quota(probe, account),
    ]


def region(probe: Probe) -> Check:
    """SES publishes events only to SNS topics of its own region."""
    name, here = "ses.region", probe.region
    regions = set()
    for arn in probe.settings.sns_topic_arns:
        try:
            regions.add(topic_region(arn)[1])
        except SignatureError:
            continue  # events.topic_allowed names a malformed ARN
    if regions and here not in regions:
        return warn(
            name,
            f"SES region {here}, but no topic of MAILER_SNS_TOPIC_ARNS is in it "
            f"({', '.join(sorted(regions))}): SES publishes only to topics of its own region",
            f"set AWS_DEFAULT_REGION in {SETTINGS_FILE} to the region of your SES identities, or "
            f"create the events topic in {here}",
        )
    return ok(name, f"SES region {here}")


def production_access(probe: Probe, account: dict) -> Check:
    name = "ses.production_access"
    if account.get("ProductionAccessEnabled"):
        return ok(name, f"production access in {probe.region}")
    return fail(
        name,
        f"the SES account is in the sandbox in {probe.region}: it sends only to verified "
        "addresses, at most 200 a day",
        f"SES console ({probe.region}) > Account dashboard > Request production access, or: aws "
        "sesv2 put-account-details --production-access-enabled --mail-type MARKETING "
        f"--website-url {probe.settings.base_url} --use-case-description 'Double opt-in "
        f"newsletter; bounces and complaints suppressed automatically' --region {probe.region}",
    )


def sending_enabled(probe: Probe, account: dict) -> Check:
    name, status = "ses.sending_enabled", account.get("EnforcementStatus", "HEALTHY")
    if status == "SHUTDOWN":
        return fail(
            name,
            f"SES has shut down sending for this account in {probe.region} (EnforcementStatus "
            "SHUTDOWN)",
            f"SES console ({probe.region}) > Reputation metrics: read the case, then answer it "
            "in the AWS Support Center",
        )
    if account.get("SendingEnabled") is False:
        return fail(
            name,
            f"sending is disabled for the SES account in {probe.region} (SendingEnabled false)",
            f"aws sesv2 put-account-sending-attributes --sending-enabled --region {probe.region}",
        )
    if status == "PROBATION":
        return warn(
            name,
            f"the SES account in {probe.region} is under review (EnforcementStatus PROBATION): "
            "bounces or complaints were too high",
            f"SES console ({probe.region}) > Reputation metrics: fix the cause before it is "
            "shut down",
        )
    return ok(name, f"sending enabled ({status})")


def quota(probe: Probe, account: dict) -> Check:
    """The 24-hour quota against every checked list's audience, and the send rate."""
    name, send_quota = "ses.quota", account.get("SendQuota", {})
    max_rate = float(send_quota.get("MaxSendRate") or 0)
    max_24h = float(send_quota.get("Max24HourSend") or 0)
    used = float(send_quota.get("SentLast24Hours") or 0)
    audience = _audience(probe)
    wanted = probe.settings.send_rate
    facts = [f"MaxSendRate {max_rate:g}/s", _per_day(max_24h, used)]
    if audience is None:
        facts.append("the lists' size is unknown (see settings.database)")
    else:
        facts.append(f"the lists have {audience:,} recipient(s)")
    detail = ", ".join(facts)
    if audience is not None and 0 <= max_24h < audience:
        return fail(
            name,
            f"{detail}: a send to all of them stops at the 24-hour quota",
            f"{QUOTA_CONSOLE} > Sending quota ({probe.region}): request at least {audience:,} "
            "messages per day",
        )
    if max_rate and wanted > max_rate:
        return warn(
            name,
            f"{detail}; MAILER_SEND_RATE {wanted:g}/s is above it: sends go at {max_rate:g}/s",
            f"set MAILER_SEND_RATE={max_rate:g} in {SETTINGS_FILE}, or {QUOTA_CONSOLE} > "
            f"Sending rate ({probe.region}): request {wanted:g}/s",
        )
    if audience is not None and 0 <= max_24h and max_24h - used < audience:
        return warn(
            name,
            f"{detail}: only {max_24h - used:,.0f} left in the current 24 hours",
            "send later, when the 24-hour window has moved on (or request a higher quota: "
            f"{QUOTA_CONSOLE} > Sending quota)",
        )
    return ok(name, detail)


def _per_day(max_24h: float, used: float) -> str:
    if max_24h < 0:
        return "no 24-hour limit"
    return f"{max_24h:,.0f} per 24 hours ({used:,.0f} used)"


def _audience(probe: Probe) -> int | None:
    """Everyone a send of each checked list would mail now, summed (a read: no list is created)."""
    if probe.factory is None:
        return None
    slugs = [d.slug for d in probe.lists]
    with probe.factory() as session:
        ids = session.scalars(select(MailingList.id).where(MailingList.slug.in_(slugs))).all()
        return sum(
            session.scalar(select(func.count()).select_from(eligible_subscribers(i).subquery()))
            for i in ids
        )
