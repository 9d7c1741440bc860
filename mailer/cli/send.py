"""`mailer send` and `mailer status`: thin wrappers over mailer.send (launch, campaign)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable

import click

from mailer.cli.options import (
    fresh_option,
    issue_option,
    list_option,
    open_db,
    pick_list,
    settings_of,
)
from mailer.content.load import load_issue_for
from mailer.doctor.runner import examine
from mailer.render.lint import Finding
from mailer.send import campaign, launch
from mailer.store.models import DeliveryState


class Progress:
    """A progress bar on a terminal (stderr); otherwise a log line every `every` messages. Only a
    row that reached its final state counts as done: a requeued row (a retry) is shown apart, so
    progress never runs past the total however often a message is retried. A context manager:
    `launch_send` opens it for the run and closes it after."""

    def __init__(self, total: int):
        self.total, self.every, self.done, self.counts = total, max(1, min(500, total // 10)), 0, {}
        self.retries = 0
        self._lock = threading.Lock()
        self.bar = None
        if sys.stderr.isatty() and total:
            self.bar = click.progressbar(
                length=total, label="sending", file=sys.stderr, show_pos=True
            )
            self.bar.__enter__()

    def __call__(self, state: str) -> None:
        with self._lock:
            if state == DeliveryState.QUEUED:
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

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


class Refused(click.ClickException):
    """A send that needs the operator's yes and could not ask for it: one line, exit code 2."""

    exit_code = 2


def _finding_printer(issue_path: str) -> Callable[[Finding], None]:
    """Errors on stderr, warnings on stdout, so that a failing send's stderr is its errors alone."""

    def echo(finding: Finding) -> None:
        click.echo(f"{issue_path}: {finding.line()}", err=finding.level == "error")

    return echo


def _confirm(question: str) -> None:
    if not sys.stdin.isatty():
        raise Refused(f"would {question}; pass --yes to confirm without a prompt")
    click.confirm(question[0].upper() + question[1:] + "?", abort=True, err=True)


@click.command()
@issue_option
@list_option
@click.option(
    "--rate",
    type=click.FloatRange(min=0.01),
    help="Messages per second (default: $MAILER_SEND_RATE, never above the account's MaxSendRate).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1, max=1024),
    help="Calls in flight (default: from the rate).",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1, max=64),
    default=1,
    show_default=True,
    help="Sender processes sharing the send on this machine (rate and concurrency are split).",
)
@click.option(
    "--worker",
    is_flag=True,
    help="Join a send other processes work on too (PostgreSQL); no prompt.",
)
@click.option(
    "--resend-unknown",
    is_flag=True,
    help="Send again to rows whose outcome is unknown (may double).",
)
@click.option("--dry-run", is_flag=True, help="Render and plan, send nothing, change nothing.")
@click.option(
    "--to",
    "to_address",
    metavar="ADDR",
    help="Send one test message to ADDR (not counted) and stop.",
)
@click.option(
    "--limit", type=click.IntRange(min=0), help="A canary: send at most N messages, then stop."
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    help="Do not ask for confirmation before sending to a real list "
    f"or an issue dated more than {launch.STALE_AFTER_DAYS} days from today.",
)
@click.option(
    "--force", is_flag=True, help="Send even when the lint finds errors (they are still printed)."
)
@click.option(
    "--no-guardrail",
    is_flag=True,
    help=(
        "Resume a send the bounce/complaint guardrail paused (after checking why); "
        "no automatic pause."
    ),
)
@click.option(
    "--no-click-tracking",
    is_flag=True,
    help=(
        "Links as written, not counted, even when the list's [analytics] clicks is on; "
        "applies when the send is planned (refused on a send planned with counted links)."
    ),
)
@fresh_option
@click.pass_context
def send(
    ctx: click.Context,
    issue_spec: str,
    list_slug: str | None,
    rate: float | None,
    concurrency: int | None,
    processes: int,
    worker: bool,
    resend_unknown: bool,
    dry_run: bool,
    to_address: str | None,
    limit: int | None,
    yes: bool,
    force: bool,
    no_guardrail: bool,
    no_click_tracking: bool,
    require_fresh: bool,
) -> None:
    """Plan and send an issue to every confirmed subscriber; run again to resume. Never sends twice.
    Runs `mailer lint` first and stops on its errors (--force sends anyway).

    Example:

    \b
        mailer send --issue today --yes
    """
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    factory = open_db(settings)
    content = load_issue_for(
        settings, list_def, issue_spec, factory=factory, require_fresh=require_fresh
    )
    if to_address:
        message_id = launch.send_test_message(settings, list_def, content, to_address)
        click.echo(f"test message sent to {to_address} ({message_id}); the list was not touched")
        return
    if dry_run:
        click.echo(
            launch.dry_run(
                factory, settings, list_def, content, resend_unknown, not no_click_tracking
            )
        )
        return
    options = campaign.SendOptions(
        rate=rate,
        concurrency=concurrency,
        limit=limit,
        resend_unknown=resend_unknown,
        guardrail=not no_guardrail,
        processes=processes,
        click_tracking=not no_click_tracking,
    )
    summary = launch.launch_send(
        factory,
        settings,
        list_def,
        content,
        options,
        force=force,
        on_finding=_finding_printer(content.path),
        confirm=None if yes or worker else _confirm,
        progress=Progress,
    )
    click.echo(summary.line())
    if not summary.finished:
        click.echo("the send did not finish: rerun the same command to resume", err=True)
        sys.exit(1)


@click.command()
@click.option(
    "--issue",
    "issue_spec",
    metavar="ISSUE",
    help="today, latest, a date (YYYY-MM-DD) or the path of an issue file (not with --health).",
)
@click.option(
    "--list",
    "list_slug",
    metavar="SLUG",
    help="List slug (a file lists/SLUG.toml); optional when there is only one list (with "
    "--health: check this list only, default every list).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option(
    "--health",
    is_flag=True,
    help="Instead: every `mailer doctor` check (no round trip) as JSON, for monitoring; exit 1 "
    "when one fails.",
)
@click.pass_context
def status(
    ctx: click.Context, issue_spec: str | None, list_slug: str | None, as_json: bool, health: bool
) -> None:
    """Counts by state and the pause reason of an issue's send; or, with --health, the setup's
    health as `mailer doctor --json` reports it.

    Example:

    \b
        mailer status --issue today --json
    """
    if health:
        if issue_spec:
            raise click.UsageError("--health checks the setup, not an issue: leave out --issue")
        report = examine(settings_of(ctx), list_slug=list_slug)
        click.echo(json.dumps(report.as_dict(), indent=2))
        sys.exit(1 if report.failed else 0)
    if not issue_spec:
        raise click.UsageError("Missing option '--issue' (or use --health).")
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    info = campaign.send_status(open_db(settings), settings, list_def, issue_spec)
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    click.echo(
        f"{info['list']} {info['issue']}: {info['state']}"
        + (f" ({info['pause_reason']})" if info["pause_reason"] else "")
    )
    for state, count in sorted(info["counts"].items()):
        click.echo(f"  {state:<10} {count}")
    if info["counts"]:
        click.echo(f"  {'total':<10} {sum(info['counts'].values())}")
