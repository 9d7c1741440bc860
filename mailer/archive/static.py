"""The archive as files: `mailer archive build` and the autopilot after each send (ARCHITECTURE.md,
"The archive"). The same pages, feeds, cards and sitemap as the web app, with relative links, so
that any static host (or a folder on disk) serves them.

    index.html, page/<n>/index.html      the index, PER_PAGE issues a page (no search: no server)
    <date>/index.html, <date>/card.png   each issue and its share card
    latest/index.html                    forwards to the newest issue
    feed.atom, feed.json, sitemap.xml, robots.txt

The site is written into a new folder beside `out` and then swapped in, so a reader never sees half
a site and a failed build leaves the previous one. `out` must be empty, absent, or an earlier build
(it holds MARKER): nobody's other files are ever deleted.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from mailer.archive import documents, pages, store
from mailer.content.lists import ListDefinition
from mailer.errors import ConfigError

MARKER = ".mailer-archive"


@dataclass(frozen=True)
class BuildReport:
    out: Path
    issues: int
    index_pages: int
    files: int
    bytes: int

    def line(self) -> str:
        return (
            f"{self.out}: {self.issues} issue(s), {self.index_pages} index page(s), "
            f"{self.files} files, {self.bytes:,} bytes"
        )


def public_root(list_def: ListDefinition, base_url: str, public_url: str | None = None) -> str:
    """Where the site will be served: --public-url, else [archive] public_url, else the app's own
    archive (then canonical URLs name the app's pages, which show the same issues)."""
    chosen = public_url or list_def.archive.public_url
    return chosen.rstrip("/") if chosen else pages.web_links(base_url, list_def.slug).public


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"static site folder {out}: is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(
            f"static site folder {out}: it holds other files and no earlier archive build "
            f"({MARKER}); give an empty or new folder"
        )


class _Writer:
    def __init__(self, root: Path) -> None:
        self.root, self.files, self.bytes = root, 0, 0

    def write(self, relative: str, data: bytes | str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = data.encode() if isinstance(data, str) else data
        path.write_bytes(raw)
        self.files, self.bytes = self.files + 1, self.bytes + len(raw)


def _write_site(
    session: Session, list_def: ListDefinition, writer: _Writer, base_url: str, public: str
) -> tuple[int, int]:
    slug, today = list_def.slug, store.today_of(list_def)
    issues = store.everything(session, slug, today)
    site = pages.Links("", public, static=True)
    index_pages = max(1, math.ceil(len(issues) / store.PER_PAGE))
    for number in range(1, index_pages + 1):
        # The pages of what `everything` read, as store.listing would answer them (no query each).
        shown = tuple(issues[(number - 1) * store.PER_PAGE : number * store.PER_PAGE])
        listing = store.Listing(shown, number, index_pages, len(issues), "")
        at = site if number == 1 else site.at_depth(2)
        html = pages.index_html(list_def, listing, at, base_url, searchable=False)
        writer.write("index.html" if number == 1 else f"page/{number}/index.html", html)
    for position, issue in enumerate(issues):
        after = issues[position - 1].date if position else None
        before = issues[position + 1].date if position + 1 < len(issues) else None
        page = store.page(session, issue)
        day = issue.date.isoformat()
        html = pages.issue_html(list_def, page, site.at_depth(1), base_url, before, after)
        writer.write(f"{day}/index.html", html)
        writer.write(
            f"{day}/card.png", store.card(session, issue) or documents.drawn_card(list_def, issue)
        )
    if issues:
        writer.write(
            "latest/index.html", pages.latest_html(list_def, site.at_depth(1), issues[0].date)
        )
    recent = [store.page(session, i) for i in issues[: store.FEED_SIZE]]
    atom, json_feed = documents.feeds(list_def, recent, site, base_url)
    writer.write("feed.atom", atom)
    writer.write("feed.json", json_feed)
    writer.write("sitemap.xml", documents.sitemap(issues, site))
    writer.write("robots.txt", f"User-agent: *\nAllow: /\nSitemap: {site.url('sitemap.xml')}\n")
    writer.write(
        MARKER, f"mailer archive build of {slug}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
    )
    return len(issues), index_pages


def _swap_in(new: Path, out: Path) -> None:
    """Replace `out` by `new` with renames on one file system: at every moment `out` is either the
    old site or the new one."""
    if not out.exists():
        new.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()
    out.rename(old)
    new.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def build(
    factory: sessionmaker[Session],
    list_def: ListDefinition,
    out: Path,
    base_url: str,
    public_url: str | None = None,
) -> BuildReport:
    _check_out(out)
    try:
        return _build(factory, list_def, out, base_url, public_url)
    except OSError as exc:
        raise ConfigError(
            f"static site folder {out}: cannot write it ({exc.strerror or exc}); "
            "check the path and its permissions"
        ) from exc


def _build(
    factory: sessionmaker[Session],
    list_def: ListDefinition,
    out: Path,
    base_url: str,
    public_url: str | None,
) -> BuildReport:
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        writer = _Writer(staging)
        with factory() as session:
            issues, index_pages = _write_site(
                session, list_def, writer, base_url, public_root(list_def, base_url, public_url)
            )
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; a web server reads it as another user
        _swap_in(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BuildReport(out, issues, index_pages, writer.files, writer.bytes)
