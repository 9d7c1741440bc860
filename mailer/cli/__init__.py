"""The `mailer` command: a thin layer over the library. Domain errors become one line, exit 1."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.config import load_settings
from mailer.cli.options import list_option, open_db, pick_list, settings_of
from mailer.store.db import make_engine, transaction, upgrade
from mailer.errors import MailerError
from mailer.audience.importing.importer import import_rows, iter_csv


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


@cli.group()
def subscribers() -> None:
    """Subscriber commands."""


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False))
@list_option
@click.option("--status", "default_status", type=click.Choice(["confirmed", "pending"]), default="confirmed",
              show_default=True, help="Status for rows without a status column.")
@click.option("--encoding", metavar="NAME",
              help="The file's encoding when it is not UTF-8, e.g. cp1252 (Excel or other Windows programs). "
                   "Default: UTF-8, or UTF-16 when the file starts with its BOM.")
@click.option("--strict", is_flag=True, help="Exit with status 1 when any row was skipped (the rest is imported).")
@click.pass_context
def subscribers_import(ctx: click.Context, csv_file: Path, list_slug: str | None, default_status: str,
                       encoding: str | None, strict: bool) -> None:
    """Import subscribers from CSV_FILE (header: email[,name][,status]; delimiter `,` `;` or tab). Safe to
    run again."""
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    factory = open_db(settings)
    problems: list[str] = []
    rows = iter_csv(csv_file, problems, default_status, encoding=encoding)
    for warning in rows.warnings:
        click.echo(warning, err=True)
    with transaction(factory) as session:
        from mailer.store.queries import ensure_list

        list_id = ensure_list(session, list_def)
    report = import_rows(factory, list_id, rows, problems, source=csv_file.name)
    for problem in report.problems:
        click.echo(f"{csv_file}: {problem}", err=True)
    click.echo(f"imported into {list_def.slug}: {report.summary}")
    if strict and report.problems:
        click.echo(f"--strict: {len(report.problems)} row(s) of {csv_file} skipped (listed above); "
                   "the other rows were imported", err=True)
        ctx.exit(1)




def main() -> None:  # pragma: no cover - console script entry
    cli()


# Commands that live in their own modules, registered here so `mailer --help` lists them all.
from mailer.cli.track import report, suppressions  # noqa: E402
from mailer.cli.content import issue, trending  # noqa: E402
from mailer.cli.events import events, reconcile  # noqa: E402
from mailer.cli.send import send, status  # noqa: E402

for command in (send, status, report, suppressions, trending, issue, events, reconcile):
    cli.add_command(command)
from mailer.cli import render as commands_render  # noqa: E402,F401  (registers preview and lint)
from mailer.cli import subscribers as commands_subscribers  # noqa: E402,F401  registers subscribers show/export/erase and serve
