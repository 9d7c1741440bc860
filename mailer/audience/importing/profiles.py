"""Importer profiles: how each service's subscriber export maps onto our columns, as data
(ARCHITECTURE.md, "Where things live": CSV imports; README "Importing from another service").

A profile names the columns that hold the address, the name and the creation date, the columns
whose values say whether the person may be mailed, and the columns kept as attributes
(Subscriber.attributes). Anything else in an export (IP addresses, locations, ratings of opens) is
not read: we keep what we need to mail people who asked for it.

The rule that matters most: a row is confirmed only when every status column of the profile says
the person gets mail. Any value saying otherwise (opted out, unsubscribed, cleaned, bounced,
complained, spam-reported) wins, and a value the table does not know skips the row with a problem
instead of guessing. Bounced and complained rows are also suppressed (never mailed on any list).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from mailer.store.models import SubscriptionStatus, SuppressionReason


class Outcome(IntEnum):
    """What a row becomes; when columns disagree the highest value wins (the safe side)."""

    CONFIRMED = 0  # gets the list's issues
    PENDING = 1  # kept, not mailed: the service had not confirmed them (or paused them)
    UNSUBSCRIBED = 2  # opted out: kept as unsubscribed so nobody re-adds them by mistake
    BOUNCED = 3  # the address does not take mail: unsubscribed and suppressed (hard-bounce)
    COMPLAINED = 4  # marked a mail as spam: unsubscribed and suppressed (complaint)


# Our subscription status and suppression reason per outcome.
STATUS_OF = {
    Outcome.CONFIRMED: SubscriptionStatus.CONFIRMED,
    Outcome.PENDING: SubscriptionStatus.PENDING,
    Outcome.UNSUBSCRIBED: SubscriptionStatus.UNSUBSCRIBED,
    Outcome.BOUNCED: SubscriptionStatus.UNSUBSCRIBED,
    Outcome.COMPLAINED: SubscriptionStatus.UNSUBSCRIBED,
}
SUPPRESSION_OF = {
    Outcome.BOUNCED: SuppressionReason.HARD_BOUNCE,
    Outcome.COMPLAINED: SuppressionReason.COMPLAINT,
}


@dataclass(frozen=True)
class StatusColumn:
    """A column whose value decides the outcome (compared lower-cased and stripped). `names` are
    the header spellings the service has used; the first one present is read."""

    names: tuple[str, ...]
    values: dict[str, Outcome]
    required: bool = True  # without it the file cannot tell who opted out: refused


@dataclass(frozen=True)
class Attribute:
    """A column kept in Subscriber.attributes under `key`; `kind` "list" splits comma-separated
    tags, "bool" reads true/false, "text" keeps the text. Empty cells are not kept."""

    names: tuple[str, ...]
    key: str
    kind: str = "text"


@dataclass(frozen=True)
class Profile:
    service: str  # the --from value and the consent source `import:<service>`
    title: str
    email: tuple[str, ...]  # header spellings of the address column (lower-case)
    name: tuple[tuple[str, ...], ...] = ()  # name parts (each a set of spellings), joined by spaces
    created: tuple[str, ...] = ()  # the creation date's column spellings
    statuses: tuple[StatusColumn, ...] = ()
    # A column whose mere presence in the header decides every row (Mailchimp's three files).
    by_header: dict[str, tuple[Outcome, str]] = field(default_factory=dict)
    default: Outcome = Outcome.CONFIRMED  # when no status column or header rule applies
    default_reason: str = ""  # its reason in the consent ledger
    attributes: tuple[Attribute, ...] = ()
    # Header columns that identify the service's export (any one set, all its columns present).
    signatures: tuple[frozenset[str], ...] = ()


_TRUE, _FALSE = ("true", "t", "yes", "1"), ("false", "f", "no", "0", "")


def _flag(when_true: Outcome, when_false: Outcome) -> dict[str, Outcome]:
    return {**dict.fromkeys(_TRUE, when_true), **dict.fromkeys(_FALSE, when_false)}


# Substack, Subscribers > Export: one CSV ("email_list.<publication>.csv") with the columns email,
# active_subscription, expiry, plan, email_disabled, created_at, first_payment_at (the subscription
# types behind `plan` are free, paid, founding, gift and comp: Substack's "How do I use the
# subscriber dashboard" help article, support.substack.com/hc/en-us/articles/360058529871).
# email_disabled=true is a reader who turned the newsletter's emails off: never confirmed.
SUBSTACK = Profile(
    service="substack",
    title="Substack",
    email=("email",),
    name=(("name",),),
    created=("created_at",),
    statuses=(StatusColumn(("email_disabled",), _flag(Outcome.UNSUBSCRIBED, Outcome.CONFIRMED)),),
    attributes=(
        Attribute(("plan",), "plan"),
        Attribute(("active_subscription",), "paid", "bool"),
        Attribute(("expiry",), "expiry"),
        Attribute(("first_payment_at",), "first_payment_at"),
    ),
    signatures=(frozenset({"email", "email_disabled", "active_subscription"}),),
)

# Mailchimp, Audience > Export audience: a zip of three CSVs, subscribed_members_export_*.csv,
# unsubscribed_members_export_*.csv and cleaned_members_export_*.csv (cleaned: hard bounces or
# repeated soft bounces; Mailchimp's "View Unsubscribed and Cleaned Addresses",
# kb.mailchimp.com/lists/managing-subscribers/view-unsubscribed-and-cleaned-addresses). Columns:
# "Email Address", "First Name", "Last Name", the audience's own fields, MEMBER_RATING, OPTIN_TIME,
# OPTIN_IP, CONFIRM_TIME, CONFIRM_IP, LATITUDE, LONGITUDE, GMTOFF, DSTOFF, TIMEZONE, CC, REGION,
# LAST_CHANGED, LEID, EUID, NOTES, TAGS; the unsubscribed file adds UNSUB_TIME,
# UNSUB_CAMPAIGN_TITLE, UNSUB_CAMPAIGN_ID, UNSUB_REASON, UNSUB_REASON_OTHER, the cleaned file
# CLEAN_TIME, CLEAN_CAMPAIGN_TITLE, CLEAN_CAMPAIGN_ID. No status column: the file is the status,
# told here by those added columns rather than by the file's name (which people rename).
MAILCHIMP = Profile(
    service="mailchimp",
    title="Mailchimp",
    email=("email address", "email"),
    name=(("first name", "fname"), ("last name", "lname")),
    created=("optin_time", "confirm_time"),
    by_header={
        "clean_time": (Outcome.BOUNCED, "cleaned"),
        "unsub_time": (Outcome.UNSUBSCRIBED, "unsubscribed"),
    },
    default=Outcome.CONFIRMED,  # subscribed_members_export: opted in at Mailchimp
    default_reason="subscribed",
    attributes=(
        Attribute(("tags",), "tags", "list"),
        Attribute(("unsub_reason",), "unsubscribe_reason"),
    ),
    signatures=(
        frozenset({"email address", "member_rating", "optin_time"}),
        frozenset({"email address", "leid", "euid"}),
    ),
)

# beehiiv, Subscribers > Export: one CSV per publication with the subscription's fields as the
# v2 API documents them (email, status, created, subscription_tier, utm_source, utm_medium,
# utm_campaign, referring_site, ...). Status values: active, validating, invalid, pending,
# inactive, needs_attention (API schema), and Paused in the app (beehiiv's glossary, "Subscriber
# status", www.beehiiv.com/newsletter-glossary/subscriber-status: inactive "may have opted out").
BEEHIIV = Profile(
    service="beehiiv",
    title="beehiiv",
    email=("email",),
    name=(("first_name", "first name"), ("last_name", "last name")),
    created=("created_at", "created", "subscribe_date"),
    statuses=(
        StatusColumn(
            ("status",),
            {
                "active": Outcome.CONFIRMED,
                "validating": Outcome.PENDING,  # beehiiv was still checking the address
                "pending": Outcome.PENDING,  # had not confirmed their address
                "needs_attention": Outcome.PENDING,
                "needs approval": Outcome.PENDING,
                "paused": Outcome.PENDING,  # not receiving mail there: not mailed here either
                "inactive": Outcome.UNSUBSCRIBED,  # opted out (or stopped receiving)
                "invalid": Outcome.BOUNCED,  # the address failed beehiiv's validation
            },
        ),
    ),
    attributes=(
        Attribute(("subscription_tier", "tier"), "plan"),
        Attribute(("utm_source",), "source"),
        Attribute(("referring_site",), "referrer"),
        Attribute(("tags",), "tags", "list"),
    ),
    signatures=(frozenset({"email", "status", "subscription_tier"}),),
)

# Buttondown, Subscribers > Export: CSV with email (email_address in the API since 2024),
# subscriber_type (now type), creation_date, tags, metadata, utm_source, referrer_url, ...
# (docs.buttondown.com/subscriber-dashboard). The types (docs.buttondown.com/api-subscribers-type):
# regular, premium, gifted, trialed, churning and unpaid get mail; unactivated has not confirmed;
# paused is on hold; churned left a paid plan (kept, not mailed: whether they still want the free
# issues is theirs to say); unsubscribed and removed left; undeliverable (and the older malformed)
# do not take mail; spammy and blocked were refused by Buttondown's filters.
BUTTONDOWN = Profile(
    service="buttondown",
    title="Buttondown",
    email=("email", "email_address"),
    created=("creation_date", "created_date", "subscription_date"),
    statuses=(
        StatusColumn(
            ("subscriber_type", "type"),
            {
                **dict.fromkeys(
                    ("regular", "premium", "gifted", "trialed", "churning", "unpaid"),
                    Outcome.CONFIRMED,
                ),
                **dict.fromkeys(("unactivated", "paused", "churned"), Outcome.PENDING),
                **dict.fromkeys(
                    ("unsubscribed", "removed", "spammy", "blocked", "disabled"),
                    Outcome.UNSUBSCRIBED,
                ),
                **dict.fromkeys(("undeliverable", "malformed"), Outcome.BOUNCED),
            },
        ),
    ),
    attributes=(
        Attribute(("tags",), "tags", "list"),
        Attribute(("utm_source",), "source"),
        Attribute(("referrer_url",), "referrer"),
        Attribute(("metadata",), "metadata"),
    ),
    signatures=(
        frozenset({"email", "subscriber_type"}),
        frozenset({"email_address", "type", "creation_date"}),
    ),
)

# Kit (formerly ConvertKit), Subscribers > Export: CSV with first_name, email_address, state,
# created_at, tags and one column per custom field. States as the Kit v4 API documents a
# subscriber's `state`: active, inactive (has not confirmed a double opt-in), cancelled
# (unsubscribed), bounced, complained (developers.kit.com, Subscribers).
KIT = Profile(
    service="kit",
    title="Kit (ConvertKit)",
    email=("email_address", "email"),
    name=(("first_name", "first name"),),
    created=("created_at", "subscribed_at"),
    statuses=(
        StatusColumn(
            ("state", "status"),
            {
                "active": Outcome.CONFIRMED,
                "inactive": Outcome.PENDING,
                "cancelled": Outcome.UNSUBSCRIBED,
                "canceled": Outcome.UNSUBSCRIBED,
                "bounced": Outcome.BOUNCED,
                "complained": Outcome.COMPLAINED,
            },
        ),
    ),
    attributes=(Attribute(("tags",), "tags", "list"), Attribute(("source",), "source")),
    signatures=(
        frozenset({"email_address", "first_name", "state"}),
        frozenset({"email_address", "first_name", "status", "created_at"}),
    ),
)

PROFILES: dict[str, Profile] = {
    p.service: p for p in (SUBSTACK, MAILCHIMP, BEEHIIV, BUTTONDOWN, KIT)
}
CSV = "csv"  # our own layout (email, name, status): the general reader, no profile
SERVICES = (CSV, *PROFILES)


def looks_like(header: list[str]) -> Profile | None:
    """The service whose export this header looks like (every column of one of its signatures
    present), or None."""
    columns = {cell.strip().lower() for cell in header}
    for profile in PROFILES.values():
        if any(signature <= columns for signature in profile.signatures):
            return profile
    return None


# Every address column a profile knows: the delimiter is the one that splits the header into one.
EVERY_EMAIL_COLUMN = tuple(
    dict.fromkeys(("email", *(n for p in PROFILES.values() for n in p.email)))
)
