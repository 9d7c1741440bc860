"""`mailer db upgrade`: the database schema, created or migrated by Alembic."""

from __future__ import annotations

import click

from mailer.cli.options import settings_of
from mailer.store.db import make_engine, upgrade


@click.group()
def db() -> None:
    """Database schema commands.

    Example:

    \b
        mailer db upgrade
    """


@db.command("upgrade")
@click.argument("revision", default="head")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Create or migrate the schema to REVISION (default: the newest).

    Example:

    \b
        mailer db upgrade head
    """
    settings = settings_of(ctx)
    upgrade(make_engine(settings.database_url), revision)
    click.echo(f"database at {settings.database_url} is at revision {revision}")
