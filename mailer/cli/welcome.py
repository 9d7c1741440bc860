"""`mailer welcome send`: welcome mails left queued (mailer.send.welcome).

Its own group, as `mailer digest` is: a welcome is not an issue, so `mailer send` (whose options
are an issue's: --issue, --limit, --resend-unknown, the lint gate) is not the place for it.
"""

from __future__ import annotations

import click

from mailer.cli.options import list_option, open_db, pick_list, settings_of
from mailer.send.welcome import send_welcomes


@click.group()
def welcome() -> None:
    """Welcome mails: the one mail a subscriber gets when they confirm ([welcome] in the list file).

    The web app sends each one right after the confirmation; this sends what it could not.

    Example:

    \b
        mailer welcome send --list ai-morning-post
    """


@welcome.command("send")
@list_option
@click.option(
    "--rate", type=float, default=None, help="Messages per second (default: $MAILER_SEND_RATE)."
)
@click.pass_context
def welcome_send(ctx: click.Context, list_slug: str | None, rate: float | None) -> None:
    """Send the list's queued welcome mails (a crash, a transport that was down); a second run
    sends nothing new. The autopilot does this at each wake.

    Example:

    \b
        mailer welcome send --list ai-morning-post
    """
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    click.echo(send_welcomes(open_db(settings), settings, list_def, rate).line())
