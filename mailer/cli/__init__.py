"""The `mailer` command: a thin layer over the library. Domain errors become one line, exit 1."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.config import load_settings
from mailer.cli.options import settings_of
from mailer.store.db import make_engine, upgrade
from mailer.errors import MailerError


class MailerGroup(click.Group):
    """The one place where MailerError becomes a ClickException (printed as one line, exit code 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MailerError as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:
            # A file the command reads or writes (commands check their own options first, naming them);
            # an operator gets the path and the reason in one line, not a traceback.
            if exc.filename is None:
                raise
            raise click.ClickException(f"{exc.filename}: {exc.strerror}; check the path and its permissions") from exc




@click.group(cls=MailerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(path_type=Path),
              help="Settings file (default: ./mailer.toml, or $MAILER_CONFIG).")
@click.option("--database-url", help="Database URL (default: $DATABASE_URL, else sqlite:///var/mailer.db).")
@click.version_option(package_name="mailer")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, database_url: str | None) -> None:
    """Newsletter delivery for The AI Morning Post: issue files to inbox-ready messages."""
    ctx.obj = load_settings({"database_url": database_url}, config_file=config_file)


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.argument("revision", default="head")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Create or migrate the schema to REVISION (default: the newest)."""
    settings = settings_of(ctx)
    upgrade(make_engine(settings.database_url), revision)
    click.echo(f"database at {settings.database_url} is at revision {revision}")


def main() -> None:  # pragma: no cover - console script entry
    cli()


# Commands that live in their own modules, registered here so `mailer --help` lists them all.
from mailer.cli.track import events, reconcile, report  # noqa: E402
from mailer.cli.suppressions import suppressions  # noqa: E402
from mailer.cli.content import issue, trending  # noqa: E402
from mailer.cli.send import send, status  # noqa: E402

for command in (send, status, report, suppressions, trending, issue, events, reconcile):
    cli.add_command(command)
from mailer.cli import render as commands_render  # noqa: E402,F401  (registers preview and lint)
from mailer.cli import subscribers as commands_subscribers  # noqa: E402  (registers serve on cli)

cli.add_command(commands_subscribers.subscribers)
