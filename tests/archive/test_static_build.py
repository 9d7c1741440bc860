"""`mailer archive build` as an operator runs it (a subprocess), and the site it writes crawled from
disk: every relative link and image resolves to a file, the feeds parse, nothing else is touched."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import pytest
from lxml import etree
from lxml import html as lxml_html
from PIL import Image

from mailer.archive.static import MARKER
from mailer.config import Settings
from mailer.store.db import make_engine, session_factory, upgrade
from tests.archive.conftest import bulk_issues, seed_contents, send_started
from tests.cli.test_cli import mailer
from tests.conftest import SECRET

PUBLIC = "https://archive.example.com/morning"


@pytest.fixture
def site_db(workdir):
    """The operator's database (var/mailer.db) with four seed issues sent, the fifth not."""
    url = f"sqlite:///{workdir / 'var' / 'mailer.db'}"
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    settings = Settings(
        database_url=url,
        secret_key=SECRET,
        base_url="https://news.example",
        issues_path=(workdir / "issues",),
        lists_dir=workdir / "lists",
    )
    contents = seed_contents()
    for content in contents[:4]:
        send_started(factory, settings, content)
    yield factory, contents
    engine.dispose()


def crawl(root: Path) -> tuple[set[Path], list[str]]:
    """Every file reachable from index.html by relative links, and the links that reach nothing."""
    seen, queue, broken = set(), [root / "index.html"], []
    while queue:
        page = queue.pop()
        if page in seen:
            continue
        seen.add(page)
        if page.suffix != ".html":
            continue
        doc = lxml_html.fromstring(page.read_bytes())
        for ref in doc.xpath(
            "//a/@href | //link/@href | //img/@src | //meta[@http-equiv='refresh']/@content"
        ):
            ref = ref.split("url=", 1)[1] if ref.startswith("0; url=") else ref
            parts = urlsplit(ref)
            if parts.scheme or parts.netloc or ref.startswith(("#", "data:", "mailto:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if not target.is_file():
                broken.append(f"{page.relative_to(root)} -> {ref}")
            elif target not in seen:
                queue.append(target)
    return seen, broken


def test_the_built_site_is_whole_and_every_link_resolves_from_disk(workdir, site_db):
    factory, contents = site_db
    built = mailer(workdir, "archive", "build", "--out", "site", "--public-url", PUBLIC)
    assert built.returncode == 0, built.stderr
    assert re.match(
        r"site: 4 issue\(s\), 1 index page\(s\), \d+ files, [\d,]+ bytes\n", built.stdout
    )
    root = (workdir / "site").resolve()
    seen, broken = crawl(root)
    assert not broken
    for content in contents[:4]:
        page = root / content.date.isoformat() / "index.html"
        assert page in seen
        doc = lxml_html.fromstring(page.read_bytes())
        url = f"{PUBLIC}/{content.date}/"
        assert doc.xpath('//link[@rel="canonical"]/@href') == [url]
        assert doc.xpath('//meta[@property="og:image"]/@content') == [f"{url}card.png"]
        card = Image.open(io.BytesIO((page.parent / "card.png").read_bytes()))
        assert card.size == (1200, 630)
    assert not (root / contents[4].date.isoformat()).exists()  # never sent
    assert (root / "latest" / "index.html").read_text().count(
        f"../{contents[3].date}/index.html"
    ) >= 1
    assert not lxml_html.fromstring((root / "index.html").read_bytes()).xpath(
        '//form[@role="search"]'
    )


def test_the_built_feeds_and_sitemap_point_at_files_that_exist(workdir, site_db):
    factory, contents = site_db
    assert (
        mailer(workdir, "archive", "build", "--out", "site", "--public-url", PUBLIC).returncode == 0
    )
    root = workdir / "site"

    def on_disk(url: str) -> Path:
        assert url.startswith(PUBLIC + "/"), url
        path = root / url[len(PUBLIC) + 1 :]
        return path / "index.html" if url.endswith("/") else path

    atom = feedparser.parse((root / "feed.atom").read_bytes())
    assert atom.bozo == 0 and len(atom.entries) == 4
    assert all(on_disk(e.link).is_file() for e in atom.entries)
    document = json.loads((root / "feed.json").read_text())
    assert document["feed_url"] == f"{PUBLIC}/feed.json"
    assert all(
        on_disk(i["url"]).is_file() and on_disk(i["image"]).is_file() for i in document["items"]
    )
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locations = etree.fromstring((root / "sitemap.xml").read_bytes()).xpath(
        "//s:loc/text()", namespaces=ns
    )
    assert len(locations) == 5 and all(on_disk(u).is_file() for u in locations)
    assert f"Sitemap: {PUBLIC}/sitemap.xml" in (root / "robots.txt").read_text()


def test_a_long_archive_is_paged_and_published_issues_join_it(workdir, site_db):
    factory, contents = site_db
    bulk_issues(factory, 45, dt_first := contents[0].date.replace(year=2025))
    published = mailer(workdir, "archive", "publish", "--date", contents[4].date.isoformat())
    assert published.returncode == 0, published.stderr
    assert "in the archive from its date on" in published.stdout
    assert mailer(workdir, "archive", "build", "--out", "site").returncode == 0
    root = (workdir / "site").resolve()
    seen, broken = crawl(root)
    assert not broken
    assert {root / "page" / "2" / "index.html", root / "page" / "3" / "index.html"} <= seen
    assert (root / contents[4].date.isoformat() / "index.html") in seen
    assert (root / dt_first.isoformat() / "index.html") in seen
    assert not (root / "page" / "4").exists()  # 50 issues: 3 pages of 20


def test_a_rebuild_replaces_the_site_and_a_foreign_folder_is_refused(workdir, site_db):
    assert mailer(workdir, "archive", "build", "--out", "site").returncode == 0
    (workdir / "site" / "stale.html").write_text("from an older build")
    again = mailer(workdir, "archive", "build", "--out", "site")
    assert again.returncode == 0 and not (workdir / "site" / "stale.html").exists()
    assert (workdir / "site" / MARKER).exists()
    assert not [p for p in workdir.iterdir() if p.name.startswith(".site.")]  # no leftovers
    foreign = workdir / "docs"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep me")
    refused = mailer(workdir, "archive", "build", "--out", "docs")
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0 and "holds other files" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (foreign / "mine.txt").read_text() == "keep me" and len(list(foreign.iterdir())) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "site", "--public-url", "ftp://x"], "--public-url"),
        (["--out", "lists/ai-morning-post.toml"], "is a file"),
        (["--out", "/proc/mailer-site"], "cannot write"),
    ],
)
def test_bad_build_options_are_one_line(workdir, site_db, args, message):
    result = mailer(workdir, "archive", "build", *args)
    assert result.returncode in (1, 2) and message in result.stderr
    assert "Traceback" not in result.stderr


def test_publishing_a_date_without_an_issue_file_says_so(workdir, site_db):
    result = mailer(workdir, "archive", "publish", "--date", "2020-01-01")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_a_list_file_with_a_bad_archive_table_is_one_line(workdir, site_db):
    path = workdir / "lists" / "ai-morning-post.toml"
    path.write_text(path.read_text() + '\n[archive]\npublic_url = "archive.example.com"\n')
    result = mailer(workdir, "archive", "build", "--out", "site")
    assert result.returncode == 1 and "archive.public_url" in result.stderr
