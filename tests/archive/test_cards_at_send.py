"""The share card is drawn when a send stores its issue, once per render, and a card that cannot be
drawn never stops the send."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select

from mailer.send import ledger
from mailer.store.models import Issue, IssueCard
from tests.archive.conftest import seed_contents, send_started
from tests.conftest import DB_KINDS

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


def cards(factory):
    with factory() as session:
        return session.execute(
            select(IssueCard.issue_id, IssueCard.content_hash, IssueCard.png, IssueCard.made_at)
        ).all()


def test_the_send_stores_the_card_of_its_render_once(factory, settings):
    content = seed_contents()[0]
    send_started(factory, settings, content)
    [(issue_id, content_hash, png, made_at)] = cards(factory)
    with factory() as session:
        assert (
            session.scalar(select(Issue.content_hash).where(Issue.id == issue_id)) == content_hash
        )
    assert Image.open(io.BytesIO(png)).size == (1200, 630)
    send_started(factory, settings, content)  # a rerun of the send: the same render, no new card
    assert cards(factory) == [(issue_id, content_hash, png, made_at)]


def test_a_card_that_cannot_be_drawn_does_not_stop_the_send(factory, settings, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise OSError("font file missing")

    monkeypatch.setattr(ledger, "card_png", broken)
    send_id = send_started(factory, settings, seed_contents()[1])
    assert send_id and cards(factory) == []
    assert "share card" in caplog.text
