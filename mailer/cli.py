"""The `mailer` command: a thin layer over the library. Domain errors become one line, exit 1."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import campaign
from .config import Settings, load_settings
from .content.lists import ListDefinition, list_slugs, load_list
from .db import make_engine, require_schema, session_factory, transaction, upgrade
from .errors import MailerError
from .subscribers import import_rows, iter_csv
from .transports import make_transport


class MailerGroup(click.Group):
    """The one place where MailerError becomes a ClickException (printed as one line, exit code 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MailerError as exc:
            raise click.ClickException(str(exc)) from exc


def settings_of(ctx: click.Context) -> Settings:
    return ctx.find_root().obj


def pick_list(settings: Settings, slug: str | None) -> ListDefinition:
    if slug is None:
        slugs = list_slugs(settings.lists_dir)
        if len(slugs) != 1:
            found = ", ".join(slugs) or f"none in {settings.lists_dir}"
            raise click.UsageError(f"pass --list SLUG (lists: {found})")
        slug = slugs[0]
    return load_list(settings.lists_dir, slug)


def open_db(settings: Settings):
    engine = make_engine(settings.database_url)
    require_schema(engine)
    return session_factory(engine)


list_option = click.option("--list", "list_slug", metavar="SLUG",
                           help="List slug (a file lists/SLUG.toml); optional when there is only one list.")
issue_option = click.option("--issue", "issue_spec", required=True, metavar="ISSUE",
                            help="today, latest, a date (YYYY-MM-DD) or the path of an issue file.")


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
@click.pass_context
def subscribers_import(ctx: click.Context, csv_file: Path, list_slug: str | None, default_status: str) -> None:
    """Import subscribers from CSV_FILE (header: email[,name][,status]). Safe to run again."""
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    factory = open_db(settings)
    problems: list[str] = []
    rows = iter_csv(csv_file, problems, default_status)
    with transaction(factory) as session:
        from .store import ensure_list

        list_id = ensure_list(session, list_def)
    report = import_rows(factory, list_id, rows, problems, source=csv_file.name)
    for problem in report.problems:
        click.echo(f"{csv_file}: {problem}", err=True)
    click.echo(f"imported into {list_def.slug}: {report.summary}")


@cli.command()
@issue_option
@list_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("var/preview"),
              show_default=True, help="Folder for the HTML and text files.")
@click.pass_context
def preview(ctx: click.Context, issue_spec: str, list_slug: str | None, out_dir: Path) -> None:
    """Write the HTML and text an issue would send, for a sample recipient."""
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    content = campaign.load_issue_for(settings, list_def, issue_spec)
    for path in campaign.write_preview(settings, list_def, content, out_dir):
        click.echo(f"wrote {path}")


@cli.command()
@issue_option
@list_option
@click.pass_context
def send(ctx: click.Context, issue_spec: str, list_slug: str | None) -> None:
    """Plan and send an issue to every confirmed subscriber; run again to resume. Never sends twice."""
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    content = campaign.load_issue_for(settings, list_def, issue_spec)
    factory = open_db(settings)
    transport = make_transport(settings)
    try:
        summary = campaign.run_send(factory, settings, list_def, content, transport)
    finally:
        transport.close()
    click.echo(summary.line())
    if summary.state != "done":
        click.echo("the send did not finish: rerun the same command to resume", err=True)
        sys.exit(1)


def main() -> None:  # pragma: no cover - console script entry
    cli()
from . import commands_subscribers  # noqa: E402,F401  registers subscribers show/export/erase and serve
