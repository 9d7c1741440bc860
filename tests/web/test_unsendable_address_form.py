"""The subscribe form, over real HTTP, with an address no message can carry (non-ASCII local
part)."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from mailer.store.models import Subscriber
from tests.conftest import DB_KINDS

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
REFUSAL = "non-ASCII characters before the @ cannot be delivered by our mail provider"


def test_a_non_ascii_local_part_is_a_400_page_that_says_why(live, factory):
    page = live.post(
        "/subscribe",
        data={
            "email": "ü@example.com",
            "name": "Ü",
            "list": "ai-morning-post",
            **live.form_fields("ai-morning-post"),
        },
    )
    assert page.status_code == 400
    assert REFUSAL in html.unescape(page.text) and "ü@example.com" in html.unescape(
        page.text
    )  # kept in the field
    assert live.outbox() == []
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_an_idn_domain_still_subscribes_as_punycode(live, factory):
    page = live.post(
        "/subscribe",
        data={
            "email": "mei@bücher.example",
            "name": "Mei",
            "list": "ai-morning-post",
            **live.form_fields("ai-morning-post"),
        },
    )
    assert page.status_code == 200
    assert [m["To"].addresses[0].addr_spec for m in live.outbox()] == ["mei@xn--bcher-kva.example"]
