"""A send as an operator starts it (`mailer send`; ARCHITECTURE.md, the send stage): the lint
gate, the questions that need the operator's yes, a transport sized for the rate, then
`campaign.run_send`. Also the two ways to look before sending: a dry run and one test message.

The operator's side (printing a finding, asking a question, showing progress) is passed in as
callables, so that this module decides what happens and the CLI only how it looks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session, sessionmaker

from mailer.config import Settings
from mailer.content.lists import ListDefinition
from mailer.content.model import IssueContent
from mailer.errors import SendError
from mailer.render.lint import Finding, error_count, lint_issue
from mailer.send import campaign
from mailer.send.campaign import SendOptions, SendSummary
from mailer.send.pacing import default_pool_size, effective_rate
from mailer.store.models import DeliveryState
from mailer.transports import make_transport

# An issue dated further from today than this (either way) is sent only when confirmed.
STALE_AFTER_DAYS = 2
LOCAL_TRANSPORT = "file"  # the outbox on disk: no reader gets its messages, so nothing to confirm

OnOutcome = Callable[[str], None]  # called with a delivery's new state after each attempt
# Given how many messages this run will send, a context that yields where outcomes go.
Progress = Callable[[int], AbstractContextManager[OnOutcome]]


def pending_count(counts: dict[str, int], resend_unknown: bool) -> int:
    """How many deliveries a run would send now: the queued ones, and the unknown ones if asked."""
    unknown = counts.get(DeliveryState.UNKNOWN, 0) if resend_unknown else 0
    return counts.get(DeliveryState.QUEUED, 0) + unknown


def dry_run(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    content: IssueContent,
    resend_unknown: bool = False,
    click_tracking: bool = True,
) -> str:
    """The line `mailer send --dry-run` prints: the plan a send would make, changing nothing."""
    plan = campaign.preview_plan(factory, settings, list_def, content, click_tracking)
    pending = pending_count(plan.counts, resend_unknown)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(plan.counts.items())) or "no recipients"
    links = (
        f"{plan.counted_links} links counted (click tracking)"
        if plan.click_tracking
        else "links as written (no click tracking)"
    )
    return (
        f"dry run: {list_def.name} {content.date}: "
        f"{'planned' if plan.already_planned else 'would plan'} {sum(plan.counts.values())} "
        f"recipients ({counts}); {pending} would be sent now; {links}; "
        f"message size ~{plan.sample_bytes // 1024} KB; nothing sent, nothing changed"
    )


def send_test_message(
    settings: Settings, list_def: ListDefinition, content: IssueContent, address: str
) -> str:
    """One message to `address` through the configured transport, outside the ledger; its id."""
    transport = make_transport(settings)
    try:
        return campaign.send_test(settings, list_def, content, transport, address)
    finally:
        transport.close()


def lint_gate(
    settings: Settings,
    list_def: ListDefinition,
    content: IssueContent,
    force: bool,
    on_finding: Callable[[Finding], None],
) -> None:
    """The lint before a real send: each finding to `on_finding`; errors stop it unless `force`."""
    findings = lint_issue(settings, list_def, content)
    for finding in findings:
        on_finding(finding)
    errors = error_count(findings)
    if errors and not force:
        raise SendError(
            f"{content.path}: {errors} lint error(s), nothing sent: fix them and rerun "
            "(`mailer lint` shows them), or use --force to send anyway"
        )


def stale_date_question(issue_date: dt.date, today: dt.date) -> str | None:
    days = (issue_date - today).days
    if abs(days) <= STALE_AFTER_DAYS:
        return None
    side = "after" if days > 0 else "before"
    return f"send an issue dated {issue_date}, {abs(days)} days {side} today ({today})"


def questions_for(
    transport_name: str, count: int, list_def: ListDefinition, issue_date: dt.date, today: dt.date
) -> list[str]:
    """What the operator must confirm: a send to real readers, and an issue dated far from today."""
    questions = (
        []
        if transport_name == LOCAL_TRANSPORT
        else [f"send to {count} recipients of {list_def.slug} through {transport_name}"]
    )
    stale = stale_date_question(issue_date, today)
    return questions + ([stale] if stale else [])


def pool_size(settings: Settings, options: SendOptions) -> int:
    """Connections the transport keeps: --concurrency, else sized from the configured rate."""
    rate = effective_rate(options.rate or settings.send_rate, None)
    return options.concurrency or default_pool_size(rate)


def launch_send(
    factory: sessionmaker[Session],
    settings: Settings,
    list_def: ListDefinition,
    content: IssueContent,
    options: SendOptions,
    *,
    force: bool = False,
    on_finding: Callable[[Finding], None],
    confirm: Callable[[str], None] | None,
    progress: Progress,
    today: dt.date | None = None,
) -> SendSummary:
    """Lint, ask, send: `confirm` gets the question when there is one (None: already confirmed,
    as by --yes or --worker) and raises to refuse; `progress` gets the count this run will send."""
    lint_gate(settings, list_def, content, force, on_finding)
    plan = campaign.preview_plan(factory, settings, list_def, content, options.click_tracking)
    pending = pending_count(plan.counts, options.resend_unknown)
    count = pending if options.limit is None else min(pending, options.limit)
    transport = make_transport(settings, pool_size=pool_size(settings, options))
    try:
        day = today or dt.date.today()
        questions = questions_for(transport.name, count, list_def, content.date, day)
        if pending and questions and confirm is not None:
            confirm(" and ".join(questions))
        with progress(count) as on_outcome:
            return campaign.run_send(
                factory, settings, list_def, content, transport, options, on_outcome=on_outcome
            )
    finally:
        transport.close()
