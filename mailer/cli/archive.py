"""`mailer archive build|publish|hide|reset`: the archive as a static site, and which issues it
shows (mailer.archive; ARCHITECTURE.md, "The archive")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from mailer.archive.static import build
from mailer.archive.visibility import mark
from mailer.cli.options import list_option, open_db, pick_list, settings_of
from mailer.store.models import Visibility


@click.group()
def archive() -> None:
    """The archive on the web: a static copy, and which issues it shows.

    The web app serves the archive at /archive/SLUG/ (issues whose send has started); `build`
    writes the same pages, feeds, share cards and sitemap as files.

    Example:

    \b
        mailer archive build --list ai-morning-post --out site/
    """


@archive.command("build")
@list_option
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder for the site: new, empty, or an earlier build (it is replaced whole).",
)
@click.option(
    "--public-url",
    metavar="URL",
    help="Where the site will be served, for feeds, cards and canonical links "
    "(default: [archive] public_url of the list, else the app's /archive/SLUG).",
)
@click.pass_context
def build_command(ctx: click.Context, list_slug: str | None, out: Path, public_url: str | None):
    """Write the archive as static files with relative links.

    Example:

    \b
        mailer archive build --list ai-morning-post --out site/ --public-url https://archive.example.com
    """
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    if public_url is not None and not public_url.startswith(("https://", "http://")):
        raise click.BadParameter("must start with https:// (or http://)", param_hint="--public-url")
    report = build(open_db(settings), list_def, out, settings.base_url, public_url)
    click.echo(report.line())


# publish, hide and reset differ only in what they mark the issue and in their help: one table,
# one maker. Each help ends in its own command's example.
MARKS = (
    (
        "publish",
        Visibility.PUBLIC,
        "Show an issue in the archive though it was not sent (stored from its file if needed).",
    ),
    (
        "hide",
        Visibility.HIDDEN,
        "Take an issue out of the archive, sent or not (its page answers 404).",
    ),
    ("reset", None, "Undo publish or hide: the issue is in the archive once its send has started."),
)
EXAMPLE = "\n\nExample:\n\n\b\n    mailer archive {name} --list ai-morning-post --date 2026-11-18"


def _mark_command(name: str, visibility: Visibility | None, summary: str) -> None:
    """`mailer archive NAME --list SLUG --date DAY`: the issue of DAY marked `visibility` (None:
    shown once its send has started)."""

    @archive.command(name, help=summary + EXAMPLE.format(name=name))
    @list_option
    @click.option(
        "--date", "day", required=True, type=click.DateTime(["%Y-%m-%d"]), help="The issue's date."
    )
    @click.pass_context
    def command(ctx: click.Context, list_slug: str | None, day: dt.datetime) -> None:
        settings = settings_of(ctx)
        list_def = pick_list(settings, list_slug)
        click.echo(mark(open_db(settings), settings, list_def, day.date(), visibility))


for _name, _visibility, _summary in MARKS:
    _mark_command(_name, _visibility, _summary)
