"""`mailer subscribers show|export|erase` and `mailer serve`, registered on the groups in cli.py."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from . import lifecycle
from .addresses import InvalidAddress, normalise_email
from .cli import cli, open_db, settings_of, subscribers
from .db import transaction


def _address(raw: str) -> str:
    try:
        return normalise_email(raw)
    except InvalidAddress as exc:
        raise click.BadParameter(f"{raw!r} is not an email address: {exc}") from None


def _when(value) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


@subscribers.command("show")
@click.argument("email")
@click.pass_context
def subscribers_show(ctx: click.Context, email: str) -> None:
    """Print a subscriber's lists and consent history (oldest first)."""
    with open_db(settings_of(ctx))() as session:
        found = lifecycle.history(session, _address(email))
    click.echo(f"{found.email}  name={found.name!r}  id={found.subscriber_id}  since {_when(found.created_at)}")
    if found.suppression:
        click.echo(f"suppressed: {found.suppression} (never mailed)")
    for slug, status, confirmed, left in found.subscriptions:
        click.echo(f"list {slug}: {status}  confirmed {_when(confirmed)}  unsubscribed {_when(left)}")
    click.echo("consent history:")
    for when, slug, action, source, ip, agent, detail in found.events:
        extra = "  ".join(part for part in (f"ip={ip}" if ip else "", f"agent={agent!r}" if agent else "",
                                            detail or "") if part)
        click.echo(f"  {_when(when)}  {action:<11} {slug:<16} via {source:<9} {extra}".rstrip())


@subscribers.command("export")
@click.option("--list", "list_slug", metavar="SLUG", help="Only this list (default: every list).")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write to this file instead of standard output.")
@click.pass_context
def subscribers_export(ctx: click.Context, list_slug: str | None, out_file: Path | None) -> None:
    """Export subscriptions as CSV (cells that a spreadsheet would run as formulas are escaped)."""
    factory = open_db(settings_of(ctx))
    handle = out_file.open("w", newline="", encoding="utf-8") if out_file else sys.stdout
    try:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(lifecycle.EXPORT_COLUMNS)
        with factory() as session:
            count = 0
            for row in lifecycle.export_rows(session, list_slug):
                writer.writerow(row)
                count += 1
    finally:
        if out_file:
            handle.close()
    if out_file:
        click.echo(f"wrote {count} rows to {out_file}", err=True)


@subscribers.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def subscribers_erase(ctx: click.Context, email: str, yes: bool) -> None:
    """Erase a person's data (GDPR art. 17); a salted hash stays so that nobody re-adds the address."""
    address = _address(email)
    if not yes:
        click.confirm(f"erase {address} for good?", abort=True)
    with transaction(open_db(settings_of(ctx))) as session:
        sub_id = lifecycle.erase(session, address)
    click.echo(f"erased subscriber {sub_id}: address, name, IP addresses and user agents removed; "
               "the address is blocked from future imports and sign-ups")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True,
              help="Allow running without MAILER_SECRET_KEY: an ephemeral key, links die with the process.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, demo: bool) -> None:
    """Run the web app locally (production: gunicorn 'mailer.web:create_app()')."""
    from .web import create_app

    settings = settings_of(ctx)
    if demo and not settings.secret_key:
        click.echo("demo mode: using an ephemeral secret key; links stop working when the server stops", err=True)
    app = create_app(settings, demo=demo)
    click.echo(f"serving on http://{host}:{port} (Ctrl-C stops)", err=True)
    app.run(host=host, port=port, threaded=True, load_dotenv=False)

