"""What every command module needs: the settings, the chosen list, an open database."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO

import click

from mailer.addresses import InvalidAddress, normalise_email
from mailer.config import Settings, load_settings
from mailer.content.lists import ListDefinition, list_slugs, load_list
from mailer.errors import MailerError
from mailer.store.db import make_engine, require_schema, session_factory

list_option = click.option(
    "--list",
    "list_slug",
    metavar="SLUG",
    help="List slug (a file lists/SLUG.toml); optional when there is only one list.",
)
issue_option = click.option(
    "--issue",
    "issue_spec",
    required=True,
    metavar="ISSUE",
    help="today, latest, a date (YYYY-MM-DD) or the path of an issue file.",
)
fresh_option = click.option(
    "--require-fresh",
    is_flag=True,
    help="Fail instead of using an older trending snapshot (shown as 'as of DATE').",
)


def settings_of(ctx: click.Context) -> Settings:
    """The root group's Settings; loaded here when a command group is invoked on its own."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Settings) else load_settings()


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


def email_argument(raw: str) -> str:
    """An EMAIL argument, normalised as stored (domain lower-case, IDN as punycode)."""
    try:
        return normalise_email(raw)
    except InvalidAddress as exc:
        raise MailerError(f"EMAIL {raw!r} is not a valid address: {exc}") from None


def output_folder(path: Path, option: str = "--out") -> Path:
    """`path`, created if needed; a MailerError naming the option when it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise MailerError(
            f"{option} {path}: that is a file, not a folder; choose a folder"
        ) from None
    except OSError as exc:
        raise MailerError(
            f"{option} {path}: cannot create this folder ({exc.strerror}); "
            "choose a folder you can write to"
        ) from None
    return path


def output_file(path: Path, option: str = "--out") -> IO[str]:
    """`path` opened for writing text (UTF-8, newlines as written); a MailerError naming the option
    when it cannot be."""
    try:
        return path.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise _unwritable(path, option, exc) from None


def _unwritable(path: Path, option: str, exc: OSError) -> MailerError:
    return MailerError(
        f"{option} {path}: cannot write this file ({exc.strerror or exc}); "
        "choose a file in a folder you can write to"
    )


def write_file_atomically(path: Path, text: str, option: str = "--out") -> None:
    """`text` written to `path` through a temporary file in the same folder and a rename, so that
    a reader never sees half a file; a MailerError naming the option when it cannot be."""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, option, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp makes 0600; the page is an ordinary file
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise _unwritable(path, option, exc) from None
