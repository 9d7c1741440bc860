"""`mailer subscribers import|show|export|erase|unsubscribe-mail|embed`: the audience, by hand or
by an MTA pipe, and the subscribe form for other sites; registered in mailer/cli/__init__.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mailer.audience import lifecycle, personal_data
from mailer.audience.export import write_export
from mailer.audience.importing.importer import import_file
from mailer.audience.importing.profiles import SERVICES
from mailer.cli.options import (
    email_argument,
    list_option,
    open_db,
    output_file,
    pick_list,
    settings_of,
)
from mailer.errors import MailerError
from mailer.store.models import SubscriptionStatus


@click.group()
def subscribers() -> None:
    """Subscriber commands.

    Example:

    \b
        mailer subscribers import lists/ai-morning-post.sample.csv
    """


@subscribers.command("import")
@click.argument("csv_file", type=click.Path(path_type=Path, dir_okay=False))
@list_option
@click.option(
    "--from",
    "service",
    type=click.Choice(SERVICES),
    help="The service the file was exported from; its columns are read as that service documents "
    "them (opt-outs, bounces and complaints are never confirmed). Default: csv "
    "(email[,name][,status]), refused with a hint when the header looks like another service's.",
)
@click.option(
    "--status",
    "default_status",
    type=click.Choice([SubscriptionStatus.CONFIRMED.value, SubscriptionStatus.PENDING.value]),
    help="Status for rows without a status column (--from csv only). Default: confirmed.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would be added, updated, unsubscribed and suppressed, by reason; change "
    "nothing.",
)
@click.option(
    "--encoding",
    metavar="NAME",
    help="The file's encoding when it is not UTF-8, e.g. cp1252 (Excel or other Windows programs). "
    "Default: UTF-8, or UTF-16 when the file starts with its BOM.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit with status 1 when any row was skipped (the rest is imported).",
)
@click.pass_context
def subscribers_import(
    ctx: click.Context,
    csv_file: Path,
    list_slug: str | None,
    service: str | None,
    default_status: str | None,
    dry_run: bool,
    encoding: str | None,
    strict: bool,
) -> None:
    """Import subscribers from CSV_FILE: our layout (header: email[,name][,status]; delimiter `,`
    `;` or tab) or, with --from, another service's export. Safe to run again.

    Example:

    \b
        mailer subscribers import email_list.csv --from substack --list ai-morning-post --dry-run
    """
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    report = import_file(
        open_db(settings),
        list_def,
        csv_file,
        service,
        default_status,
        encoding=encoding,
        dry_run=dry_run,
        on_warning=lambda warning: click.echo(warning, err=True),
    )
    for problem in report.problems:
        click.echo(f"{csv_file}: {problem}", err=True)
    if dry_run:
        click.echo(f"dry run, nothing changed; {list_def.slug} would get: {report.summary}")
    else:
        click.echo(f"imported into {list_def.slug}: {report.summary}")
    for line in report.by_reason():
        click.echo(f"  {line}")
    if strict and report.problems:
        click.echo(
            f"--strict: {len(report.problems)} row(s) of {csv_file} skipped (listed above); "
            "the other rows were imported",
            err=True,
        )
        ctx.exit(1)


def _when(value) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


@subscribers.command("show")
@click.argument("email")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print everything we hold about the person as JSON (profile, subscriptions, consent "
    "history, deliveries and their events): the document /manage/<token>/export downloads.",
)
@click.pass_context
def subscribers_show(ctx: click.Context, email: str, as_json: bool) -> None:
    """Print a subscriber's lists, attributes and consent history (oldest first).

    Example:

    \b
        mailer subscribers show reader@example.com --json
    """
    if as_json:
        with open_db(settings_of(ctx))() as session:
            document = personal_data.personal_data_of(session, email_argument(email))
        click.echo(personal_data.as_json(document), nl=False)
        return
    with open_db(settings_of(ctx))() as session:
        found = lifecycle.history(session, email_argument(email))
    click.echo(
        f"{found.email}  name={found.name!r}  id={found.subscriber_id}  since "
        f"{_when(found.created_at)}"
    )
    if found.attributes:
        shown = json.dumps(found.attributes, ensure_ascii=False, sort_keys=True)
        click.echo(f"attributes: {shown}")
    if found.suppression:
        click.echo(f"suppressed: {found.suppression} (never mailed)")
    for slug, status, confirmed, left in found.subscriptions:
        click.echo(
            f"list {slug}: {status}  confirmed {_when(confirmed)}  unsubscribed {_when(left)}"
        )
    click.echo("consent history:")
    for when, slug, action, source, ip, agent, detail in found.events:
        extra = "  ".join(
            part
            for part in (
                f"ip={ip}" if ip else "",
                f"agent={agent!r}" if agent else "",
                detail or "",
            )
            if part
        )
        click.echo(f"  {_when(when)}  {action:<11} {slug:<16} via {source:<9} {extra}".rstrip())


@subscribers.command("export")
@click.option("--list", "list_slug", metavar="SLUG", help="Only this list (default: every list).")
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write to this file instead of standard output.",
)
@click.pass_context
def subscribers_export(ctx: click.Context, list_slug: str | None, out_file: Path | None) -> None:
    """Export subscriptions as CSV (cells that a spreadsheet would run as formulas are escaped).

    Example:

    \b
        mailer subscribers export --list ai-morning-post --out subscribers.csv
    """
    factory = open_db(settings_of(ctx))
    handle = output_file(out_file) if out_file else sys.stdout
    try:
        count = write_export(factory, handle, list_slug)
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
    """Erase a person's data (GDPR art. 17); a salted hash stays so that nobody re-adds the address.

    Example:

    \b
        mailer subscribers erase reader@example.com --yes
    """
    address = email_argument(email)
    if not yes:
        click.confirm(f"erase {address} for good?", abort=True)
    settings = settings_of(ctx)
    done = lifecycle.erase_person(open_db(settings), address, settings.outbox_dir)
    click.echo(
        f"erased subscriber {done.subscriber_id}: address, name, IP addresses, user agents and SES "
        f"event data removed, {done.outbox_files} mail(s) deleted from the outbox; "
        "the address is blocked from future imports and sign-ups"
    )
    if done.file_scrubbed is False:
        click.echo(
            "note: another process holds the database open, so old pages stay in its write-ahead "
            "log until its next checkpoint; stop `mailer serve` and run `mailer subscribers erase` "
            "again to clear them now",
            err=True,
        )


@subscribers.command("embed")
@list_option
@click.pass_context
def subscribers_embed(ctx: click.Context, list_slug: str | None) -> None:
    """Print the HTML that puts the list's subscribe form on another site: an iframe of
    /subscribe/SLUG/embed (framable by the sites in MAILER_EMBED_ORIGINS), and a plain form that
    opens the subscribe page with the address filled in. Links start with MAILER_BASE_URL.

    Example:

    \b
        mailer subscribers embed --list ai-morning-post
    """
    from mailer.web.embed import embed_code

    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    click.echo(embed_code(settings.base_url, list_def, settings.embed_origins))


EX_TEMPFAIL = 75  # sysexits.h: an MTA's pipe transport keeps the mail and retries later


@subscribers.command("unsubscribe-mail")
@click.argument("message_file", type=click.File("rb"), default="-")
@click.pass_context
def subscribers_unsubscribe_mail(ctx: click.Context, message_file) -> None:
    """Apply one mail sent to the unsubscribe mailbox (the List-Unsubscribe mailto), read from
    MESSAGE_FILE or standard input: for an MTA pipe, e.g. a Postfix alias "|mailer subscribers
    unsubscribe-mail". Exits 75 (try again later) when the database is unreachable.

    Example:

    \b
        mailer subscribers unsubscribe-mail - < request.eml
    """
    from sqlalchemy.exc import OperationalError

    from mailer.track.mail_unsubscribe import apply_request_mail, read_request_mail

    settings = settings_of(ctx)
    raw = read_request_mail(message_file)
    # Anything wrong on our side (settings, database) exits 75: the MTA keeps the mail and retries,
    # where any other failure would bounce the reader's request back to them.
    try:
        request = apply_request_mail(open_db(settings), settings, raw)
    except (MailerError, OperationalError) as exc:
        click.echo(f"not applied, the mail should be delivered again later: {exc}", err=True)
        ctx.exit(EX_TEMPFAIL)
    click.echo(request.line())
