"""The `mailer` command: a thin layer over the library. The root group is the one place where domain
errors become one line (exit 1), and the one place where commands are registered: each command
module defines its commands and imports nothing from here (ARCHITECTURE.md, the CLI)."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli.archive import archive
from mailer.cli.autopilot import autopilot
from mailer.cli.content import issue, trending
from mailer.cli.db import db
from mailer.cli.digest import digest
from mailer.cli.doctor import doctor
from mailer.cli.logs import configure_logging
from mailer.cli.render import lint_command, preview
from mailer.cli.send import send, status
from mailer.cli.serve import serve
from mailer.cli.subscribers import subscribers
from mailer.cli.suppressions import suppressions
from mailer.cli.track import events, reconcile, report
from mailer.cli.welcome import welcome
from mailer.config import LOG_FORMATS, load_settings
from mailer.errors import MailerError


class MailerGroup(click.Group):
    """The one place where MailerError becomes a ClickException (printed as one line, exit code
    1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MailerError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            # A file the command reads or writes (commands check their own options first, naming
            # them);
            # an operator gets the path and the reason in one line, not a traceback.
            if exc.filename is None:
                raise
            raise click.ClickException(
                f"{exc.filename}: {exc.strerror}; check the path and its permissions"
            ) from exc


@click.group(cls=MailerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path),
    help="Settings file (default: ./mailer.toml, or $MAILER_CONFIG).",
)
@click.option(
    "--database-url", help="Database URL (default: $DATABASE_URL, else sqlite:///var/mailer.db)."
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    help="Log lines on stderr: text, or json (one object per line, for a log collector) "
    "(default: $MAILER_LOG_FORMAT, else text).",
)
@click.version_option(package_name="mailer")
@click.pass_context
def cli(
    ctx: click.Context, config_file: Path | None, database_url: str | None, log_format: str | None
) -> None:
    """Newsletter delivery for The AI Morning Post: issue files to inbox-ready messages.

    Example:

    \b
        mailer --database-url sqlite:///var/mailer.db status --issue latest
    """
    ctx.obj = load_settings(
        {"database_url": database_url, "log_format": log_format}, config_file=config_file
    )
    configure_logging(ctx.obj.log_format)


# Every command, in the order of the stages (`mailer --help` lists them by name).
COMMANDS = (
    db,
    serve,
    subscribers,
    trending,
    issue,
    preview,
    lint_command,
    send,
    welcome,
    status,
    digest,
    events,
    report,
    reconcile,
    suppressions,
    autopilot,
    archive,
    doctor,
)
for command in COMMANDS:
    cli.add_command(command)


def main() -> None:  # pragma: no cover - console script entry
    cli()
