"""Errors of the trending sources (Hugging Face Hub, GitHub), each one line saying what to do.

MailerError
└── SourceError              a trending source could not be used this time
    ├── SourceUnavailableError  timeout, network down, 5xx: try later (the newest snapshot is used)
    ├── RateLimitedError        429 / exhausted quota; says when it resets
    ├── SourceDataError         the answer is not what the API documents (malformed JSON, shape)
    └── EmptyResultError        the source answered with nothing to show
StaleTrendingError           --require-fresh and the newest snapshot is older than the issue
"""

from __future__ import annotations

import datetime as dt
import math

from mailer.errors import MailerError


class SourceError(MailerError):
    def __init__(self, source: str, message: str):
        self.source = source
        super().__init__(f"{source}: {message}")


class SourceUnavailableError(SourceError):
    pass


class RateLimitedError(SourceError):
    def __init__(self, source: str, message: str, resets_at: dt.datetime | None = None):
        self.resets_at = resets_at
        super().__init__(source, message)


class SourceDataError(SourceError):
    pass


class EmptyResultError(SourceError):
    pass


class StaleTrendingError(MailerError):
    pass


def describe_reset(resets_at: dt.datetime | None, now: dt.datetime) -> str:
    """'it resets at 14:05 UTC (in 12 min)', or a hint when the provider did not say."""
    if resets_at is None:
        return "the provider did not say when it resets; try again in a few minutes"
    seconds = max(0, math.ceil((resets_at - now).total_seconds()))
    if seconds < 90:
        wait = f"in {seconds} s"
    elif seconds < 2 * 3600:
        wait = f"in {math.ceil(seconds / 60)} min"
    else:
        wait = f"in {seconds / 3600:.1f} h"
    # Rounded up to the minute: never tell the operator to retry before the limit has reset.
    shown = resets_at.astimezone(dt.UTC)
    if shown.second or shown.microsecond:
        shown = shown.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return f"it resets at {shown:%H:%M} UTC ({wait})"
