"""CLI groups `mailer trending ...` and `mailer issue new`, registered in mailer/cli/__init__.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from mailer.cli.options import open_db, output_folder, pick_list, settings_of
from mailer.content.new_issue import new_issue
from mailer.content.trending_fetch import FetchResult, fetch_trending, raise_for_failures
from mailer.track.clicks import RATE_WEEKS, url_click_rates

SHOWN_ROWS = 10


def today() -> dt.date:
    return dt.date.today()


def _parse_day(value: str) -> dt.date:
    if value == "today":
        return today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: use today or a date like 2026-11-18") from None


@click.group("trending")
def trending() -> None:
    """Trending sections: fetch snapshots from the Hugging Face Hub and GitHub.

    Example:

    \b
        mailer trending fetch
    """


def _row(entry: dict) -> tuple[str, str, str, str]:
    if "stars" in entry:
        return entry["name"], entry.get("language") or "", f"{entry['stars']:,} stars", ""
    likes = "" if entry.get("likes") is None else f"{entry['likes']:,} likes"
    downloads = "" if entry.get("downloads") is None else f"{entry['downloads']:,} downloads"
    return entry["id"], entry.get("task") or "", likes, downloads


def _echo_result(result: FetchResult) -> None:
    if result.error is not None:
        click.echo(f"{result.source}: FAILED {result.error}", err=True)
        if result.fallback:
            click.echo(
                f"{result.source}: issues will use the snapshot of {result.fallback.taken_on} "
                f"and show it as of that date",
                err=True,
            )
        return
    snapshot = result.snapshot
    state = (
        "fetched" if result.written else "already fetched today, kept (use --refresh to replace)"
    )
    click.echo(f"{result.source} {snapshot.taken_on}: {len(snapshot.entries)} entries, {state}")
    rows = [_row(e) for e in snapshot.entries[:SHOWN_ROWS]]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for rank, row in enumerate(rows, 1):
        click.echo(
            f"  {rank:>2}  "
            + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        )
    if len(snapshot.entries) > SHOWN_ROWS:
        click.echo(f"      ... and {len(snapshot.entries) - SHOWN_ROWS} more stored")


@trending.command("fetch")
@click.option("--list", "slug", help="List whose [sources] to fetch (default: the only list).")
@click.option("--refresh", is_flag=True, help="Replace today's snapshot if there already is one.")
@click.option(
    "--require-fresh", is_flag=True, help="Fail if any source could not be fetched today."
)
def fetch(slug: str | None, refresh: bool, require_fresh: bool) -> None:
    """Fetch today's trending data, store it as a snapshot and print what came in.

    Example:

    \b
        mailer trending fetch --refresh
    """
    settings = settings_of(click.get_current_context())
    list_def = pick_list(settings, slug)
    results = fetch_trending(open_db(settings), settings, list_def, today(), refresh=refresh)
    for result in results:
        _echo_result(result)
    raise_for_failures(results, require_fresh)


@click.group("issue")
def issue() -> None:
    """Issue files: scaffold a new one.

    Example:

    \b
        mailer issue new --date today --from latest
    """


@issue.command("new")
@click.option(
    "--date", "date_spec", default="today", show_default=True, help="today or YYYY-MM-DD."
)
@click.option(
    "--from",
    "from_spec",
    default="latest",
    show_default=True,
    help="Issue to take headings from: latest, YYYY-MM-DD, a path, or 'none'.",
)
@click.option("--list", "slug", help="List (default: the only list).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write <list>/<date>.md into (default: the first issues path).",
)
@click.option(
    "--copy-text", is_flag=True, help="Copy the source issue's text as-is instead of TODO prompts."
)
@click.option(
    "--require-fresh",
    is_flag=True,
    help="Fail unless every source has a snapshot of the issue date.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing issue file.")
def new(
    date_spec: str,
    from_spec: str,
    slug: str | None,
    out_dir: Path | None,
    copy_text: bool,
    require_fresh: bool,
    force: bool,
) -> None:
    """Write issues/<list>/<date>.md with the editorial sections to fill and trending attached.

    Example:

    \b
        mailer issue new --date 2026-11-23 --from latest
    """
    settings = settings_of(click.get_current_context())
    list_def = pick_list(settings, slug)
    day = _parse_day(date_spec)

    def folder() -> Path:
        return output_folder(out_dir) if out_dir else settings.issues_path[0]

    factory = open_db(settings)
    written = new_issue(
        factory,
        settings,
        list_def,
        day,
        from_spec,
        folder,
        copy_text=copy_text,
        require_fresh=require_fresh,
        force=force,
        today=today(),
        rates=lambda: url_click_rates(factory, list_def.slug, day),
    )
    click.echo(f"wrote {written.path}")
    for name, snapshot in written.snapshots.items():
        click.echo(
            f"  {name}: "
            + (
                f"snapshot of {snapshot.taken_on}"
                if snapshot
                else "no snapshot yet (run `mailer trending fetch`); section left empty"
            )
        )
    if written.content.trending_as_of:
        click.echo(f"  trending data is as of {written.content.trending_as_of}; the issue says so")
    if written.click_order:
        click.echo(
            f"  order_by_clicks (reader clicks / delivered, sends of the {RATE_WEEKS} weeks "
            f"before {day}):"
        )
        for line in written.click_order.lines():
            click.echo(f"    {line}")
