"""`mailer preview` and `mailer lint`: what an operator looks at before a send."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailer.cli.options import (
    fresh_option,
    issue_option,
    list_option,
    open_db,
    output_folder,
    pick_list,
    settings_of,
)
from mailer.config import Settings
from mailer.content.lists import ListDefinition
from mailer.content.load import load_issue_for
from mailer.content.model import IssueContent
from mailer.errors import ConfigError
from mailer.render.lint import error_count, lint_issue
from mailer.render.preview import write_preview
from mailer.render.screenshots import chromium, screenshots


def load_with_snapshots(
    settings: Settings, list_def: ListDefinition, spec: str, require_fresh: bool
) -> IssueContent:
    """The issue as a send would render it; before `mailer db upgrade` exists, without snapshots."""
    try:
        factory = open_db(settings)
    except ConfigError as exc:
        click.echo(f"note: rendering without trending snapshots ({exc})", err=True)
        factory = None
    return load_issue_for(settings, list_def, spec, factory=factory, require_fresh=require_fresh)


@click.command()
@issue_option
@list_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("var/preview"),
    show_default=True,
    help="Folder for the HTML, text and PNG files.",
)
@fresh_option
@click.pass_context
def preview(
    ctx: click.Context, issue_spec: str, list_slug: str | None, out_dir: Path, require_fresh: bool
) -> None:
    """Write the HTML and text an issue would send, for a sample recipient; PNG screenshots at 375
    and 640 px wide when Chromium is installed.

    Example:

    \b
        mailer preview --issue latest --out var/preview
    """
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    content = load_with_snapshots(settings, list_def, issue_spec, require_fresh)
    paths = write_preview(settings, list_def, content, output_folder(out_dir))
    for path in paths:
        click.echo(f"wrote {path}")
    browser = chromium()
    if browser is None:
        click.echo("no chromium on PATH: screenshots skipped (apt-get install chromium)", err=True)
        return
    for path in screenshots(paths[0], browser):
        click.echo(f"wrote {path}")


@click.command("lint")
@issue_option
@list_option
@fresh_option
@click.pass_context
def lint_command(
    ctx: click.Context, issue_spec: str, list_slug: str | None, require_fresh: bool
) -> None:
    """Check an issue before sending: subject, scaffold prompts left, MAILER_BASE_URL, clip size,
    unsubscribe link, https links, alt text, leftovers, empty sections, MJML. Exit code 1 when there
    is an error; `mailer send` runs the same checks first.

    Example:

    \b
        mailer lint --issue today
    """
    settings = settings_of(ctx)
    list_def = pick_list(settings, list_slug)
    content = load_with_snapshots(settings, list_def, issue_spec, require_fresh)
    findings = lint_issue(settings, list_def, content)
    for finding in findings:
        click.echo(f"{content.path}: {finding.line()}")
    errors = error_count(findings)
    click.echo(f"{content.path}: {errors} error(s), {len(findings) - errors} warning(s)")
    if errors:
        sys.exit(1)
