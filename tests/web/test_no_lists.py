"""A web app whose lists folder holds no list file (a new installation, a wrong MAILER_LISTS_DIR)
answers 404 pages, never a 500."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "path", ["/subscribe", "/subscribe/ai-morning-post", "/archive/ai-morning-post/", "/nowhere"]
)
def test_every_page_is_a_404_not_a_500(serve, tmp_path, path):
    empty = tmp_path / "no-lists"
    empty.mkdir()
    live = serve(settings_changes={"lists_dir": empty})
    answer = live.get(path)
    assert answer.status_code == 404 and "There is no page at this address" in answer.text
    assert live.get("/healthz").status_code == 200
