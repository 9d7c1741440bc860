"""`mailer send` and `mailer status`: thin wrappers over mailer.campaign."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading

import click

from mailer.content.load import load_issue_for
from mailer.send import campaign
from mailer.cli.options import fresh_option, issue_option, list_option, open_db, pick_list, settings_of
from mailer.content.model import IssueContent
from mailer.render.lint import lint_issue
from mailer.send.pacing import default_pool_size, effective_rate
from mailer.transports import make_transport

STALE_AFTER_DAYS = 2  # an issue dated further from today than this (either way) is sent only when confirmed


class Progress:
    """A progress bar on a terminal (stderr); otherwise a log line every `every` messages. Only a row
    that reached its final state counts as done: a requeued row (a retry) is shown apart, so progress
    never runs past the total however often a message is retried."""

    def __init__(self, total: int):
        self.total, self.every, self.done, self.counts = total, max(1, min(500, total // 10)), 0, {}
        self.retries = 0
        self._lock = threading.Lock()
        self.bar = None
        if sys.stderr.isatty() and total:
            self.bar = click.progressbar(length=total, label="sending", file=sys.stderr, show_pos=True)
            self.bar.__enter__()

    def __call__(self, state: str) -> None:
        with self._lock:
            if state == "queued":
                self.retries += 1
                return
            self.done += 1
            self.counts[state] = self.counts.get(state, 0) + 1
            if self.bar is not None:
                self.bar.update(1)
            elif self.done % self.every == 0:
                detail = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
                retries = f"; {self.retries} retries" if self.retries else ""
                click.echo(f"progress: {self.done}/{self.total} ({detail}{retries})", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


class Refused(click.ClickException):
    """A send that needs the operator's yes and could not ask for it: one line, exit code 2."""

    exit_code = 2


def _lint_gate(settings, list_def, content: IssueContent, force: bool) -> None:
    """The lint before a real send: its findings printed (errors on stderr, warnings on stdout, so that
    a failing send's stderr is its errors alone); errors stop the send unless --force."""
    findings = lint_issue(settings, list_def, content)
    for finding in findings:
        click.echo(f"{content.path}: {finding.line()}", err=finding.level == "error")
    errors = sum(f.level == "error" for f in findings)
    if errors and not force:
        raise click.ClickException(f"{content.path}: {errors} lint error(s), nothing sent: fix them and rerun "
                                   "(`mailer lint` shows them), or use --force to send anyway")


def _date_question(issue_date: dt.date, today: dt.date) -> str | None:
    days = (issue_date - today).days
    if abs(days) <= STALE_AFTER_DAYS:
        return None
    return f"send an issue dated {issue_date}, {abs(days)} days {'after' if days > 0 else 'before'} today ({today})"


def _confirm(questions: list[str]) -> None:
    question = " and ".join(questions)
    if not sys.stdin.isatty():
        raise Refused(f"would {question}; pass --yes to confirm without a prompt")
    click.confirm(question[0].upper() + question[1:] + "?", abort=True, err=True)


@click.command()
@issue_option
@list_option
@click.option("--rate", type=click.FloatRange(min=0.01), help="Messages per second (default: $MAILER_SEND_RATE, "
              "never above the account's MaxSendRate).")
@click.option("--concurrency", type=click.IntRange(min=1, max=1024), help="Calls in flight (default: from the rate).")
@click.option("--processes", type=click.IntRange(min=1, max=64), default=1, show_default=True,
              help="Sender processes sharing the send on this machine (rate and concurrency are split).")
@click.option("--worker", is_flag=True, help="Join a send other processes work on too (PostgreSQL); no prompt.")
@click.option("--resend-unknown", is_flag=True, help="Send again to rows whose outcome is unknown (may double).")
@click.option("--dry-run", is_flag=True, help="Render and plan, send nothing, change nothing.")
@click.option("--to", "to_address", metavar="ADDR", help="Send one test message to ADDR (not counted) and stop.")
@click.option("--limit", type=click.IntRange(min=0), help="A canary: send at most N messages, then stop.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation before sending to a real list "
              f"or an issue dated more than {STALE_AFTER_DAYS} days from today.")
@click.option("--force", is_flag=True, help="Send even when the lint finds errors (they are still printed).")
@click.option("--no-guardrail", is_flag=True,
              help="Resume a send the bounce/complaint guardrail paused (after checking why); no automatic pause.")
@fresh_option
@click.pass_context
def send(ctx: click.Context, issue_spec: str, list_slug: str | None, rate: float | None, concurrency: int | None,
         processes: int, worker: bool, resend_unknown: bool, dry_run: bool, to_address: str | None, limit: int | None,
         yes: bool, force: bool, no_guardrail: bool, require_fresh: bool) -> None:
    """Plan and send an issue to every confirmed subscriber; run again to resume. Never sends twice.
    Runs `mailer lint` first and stops on its errors (--force sends anyway)."""
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    factory = open_db(settings)
    content = load_issue_for(settings, list_def, issue_spec, factory=factory, require_fresh=require_fresh)
    if to_address:
        transport = make_transport(settings)
        try:
            message_id = campaign.send_test(settings, list_def, content, transport, to_address)
        finally:
            transport.close()
        click.echo(f"test message sent to {to_address} ({message_id}); the list was not touched")
        return
    if not dry_run:
        _lint_gate(settings, list_def, content, force)
    plan = campaign.preview_plan(factory, settings, list_def, content)
    pending = plan.counts.get("queued", 0) + (plan.counts.get("unknown", 0) if resend_unknown else 0)
    if dry_run:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(plan.counts.items())) or "no recipients"
        click.echo(f"dry run: {list_def.name} {content.date}: {'planned' if plan.already_planned else 'would plan'}"
                   f" {sum(plan.counts.values())} recipients ({counts}); {pending} would be sent now; "
                   f"message size ~{plan.sample_bytes // 1024} KB; nothing sent, nothing changed")
        return
    pool = concurrency or default_pool_size(effective_rate(rate or settings.send_rate, None))
    transport = make_transport(settings, pool_size=pool)
    try:
        count = min(pending, limit) if limit is not None else pending
        questions = [] if transport.name == "file" else [
            f"send to {count} recipients of {list_def.slug} through {transport.name}"]
        stale = _date_question(content.date, dt.date.today())
        questions += [stale] if stale else []
        if pending and questions and not (yes or worker):
            _confirm(questions)
        progress = Progress(pending if limit is None else min(pending, limit))
        options = campaign.SendOptions(rate=rate, concurrency=concurrency, limit=limit,
                                       resend_unknown=resend_unknown, guardrail=not no_guardrail,
                                       processes=processes)
        try:
            summary = campaign.run_send(factory, settings, list_def, content, transport, options, on_outcome=progress)
        finally:
            progress.close()
    finally:
        transport.close()
    click.echo(summary.line())
    if not summary.finished:
        click.echo("the send did not finish: rerun the same command to resume", err=True)
        sys.exit(1)


@click.command()
@issue_option
@list_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status(ctx: click.Context, issue_spec: str, list_slug: str | None, as_json: bool) -> None:
    """Counts by state and the pause reason of an issue's send."""
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    info = campaign.send_status(open_db(settings), settings, list_def, issue_spec)
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    click.echo(f"{info['list']} {info['issue']}: {info['state']}"
               + (f" ({info['pause_reason']})" if info["pause_reason"] else ""))
    for state, count in sorted(info["counts"].items()):
        click.echo(f"  {state:<10} {count}")
    if info["counts"]:
        click.echo(f"  {'total':<10} {sum(info['counts'].values())}")
