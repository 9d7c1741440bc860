"""The archive as the two real servers answer it: `mailer serve` (a subprocess) and gunicorn with
two workers, concurrent readers, SQLite and PostgreSQL. Both workers answer the same bytes and
ETag for the same page, so caches and conditional requests work whichever worker answers."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from mailer.config import Settings
from tests.archive.conftest import LIST, seed_contents, send_started
from tests.conftest import DB_KINDS, SECRET
from tests.web.servers import start_gunicorn, start_mailer_serve, stop

SLUG = LIST.slug


def archive_paths(contents) -> list[str]:
    base = f"/archive/{SLUG}"
    paths = [f"{base}/", f"{base}/feed.atom", f"{base}/feed.json", f"{base}/sitemap.xml"]
    for content in contents:
        paths += [f"{base}/{content.date}", f"{base}/{content.date}/card.png"]
    return paths


def fill(factory, database_url, url) -> list:
    """Four seed issues sent with the server's own base URL (the mails' links name it)."""
    settings = Settings(database_url=database_url, secret_key=SECRET, base_url=url)
    contents = seed_contents()[:4]
    for content in contents:
        send_started(factory, settings, content)
    return contents


@pytest.mark.slow
@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_gunicorn_workers_answer_the_archive_alike_under_concurrent_readers(
    database_url, engine, factory, tmp_path
):
    proc, url = start_gunicorn(database_url, tmp_path, "mailer.web:create_app()")
    try:
        paths = archive_paths(fill(factory, database_url, url))

        def get(path: str):
            response = requests.get(url + path, timeout=30)
            return path, response.status_code, response.headers.get("ETag"), len(response.content)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(get, paths * 12))
        assert {status for _, status, _, _ in answers} == {200}
        seen = defaultdict(set)
        for path, _, etag, size in answers:
            seen[path].add((etag, size))
        assert all(len(variants) == 1 for variants in seen.values()), seen
        for path in paths:
            [(etag, _)] = seen[path]
            again = requests.get(url + path, headers={"If-None-Match": etag}, timeout=30)
            assert again.status_code == 304, path
    finally:
        stop(proc)


def test_mailer_serve_answers_the_archive(tmp_path, database_url, engine, factory):
    proc, url = start_mailer_serve(database_url, tmp_path)
    try:
        contents = fill(factory, database_url, url)
        for path in archive_paths(contents):
            assert requests.get(url + path, timeout=30).status_code == 200, path
        latest = requests.get(url + f"/archive/{SLUG}/latest", timeout=30)
        assert latest.url.endswith(f"/archive/{SLUG}/{contents[-1].date}")
        unsent = requests.get(url + f"/archive/{SLUG}/{seed_contents()[4].date}", timeout=30)
        assert unsent.status_code == 404
    finally:
        stop(proc)
