"""The web checks' test link: the one-click route answers it as it answers a reader (200, no
redirect, the same page), and no table changes, however it is posted; a reader's link on the same
route does unsubscribe (so the no-op is the test subscriber's, not a broken route)."""

from __future__ import annotations

import re

import requests
from sqlalchemy import select

from mailer.doctor.check import Status
from mailer.send.links import LinkMaker
from mailer.store.db import transaction
from mailer.store.models import Subscriber, Subscription
from mailer.tokens import TEST_SUBSCRIBER_ID, make_token
from tests.conftest import import_sample
from tests.web.conftest import dump_tables


def _list(installation):
    from mailer.content.lists import load_list

    return load_list(installation.settings.lists_dir, "ai-morning-post")


def test_the_doctor_changes_no_row(installation):
    import_sample(installation.factory)
    before = dump_tables(installation.engine)
    found = installation.examine()
    assert found["web.one_click"].status == Status.OK
    assert "answers 200, no redirect" in found["web.one_click"].detail
    assert dump_tables(installation.engine) == before


def test_the_test_link_changes_nothing_however_it_is_posted(installation):
    """Even with a row of id 0 (ids start at 1; a database copied from elsewhere might have
    one): the web app recognises the test subscriber, it does not rely on there being none."""
    list_id = import_sample(installation.factory)
    with transaction(installation.factory) as session:
        session.add(Subscriber(id=TEST_SUBSCRIBER_ID, email="zero@example.com", name="Zero"))
        session.flush()
        session.add(Subscription(subscriber_id=0, list_id=list_id, status="confirmed"))
    settings = installation.settings
    recipient = LinkMaker(settings, _list(installation)).recipient(
        0, TEST_SUBSCRIBER_ID, "x@invalid", ""
    )
    manage = f"{settings.base_url}/manage/" + make_token(
        settings.secret_key, "manage", TEST_SUBSCRIBER_ID, "ai-morning-post"
    )
    page = requests.get(manage, allow_redirects=False, timeout=30)
    assert page.status_code == 200
    token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
    before = dump_tables(installation.engine)
    posts = [
        (recipient.unsubscribe_url, {"List-Unsubscribe": "One-Click"}),
        (recipient.unsubscribe_url, {"scope": "all"}),
        (recipient.unsubscribe_url, {}),
        (manage, {"scope": "all", "form_token": token}),  # the manage page's forms carry one
    ]
    for url, form in posts:
        answer = requests.post(url, data=form, allow_redirects=False, timeout=30)
        assert answer.status_code == 200, (url, answer.status_code)
        assert "unsubscribed" in answer.text
    assert dump_tables(installation.engine) == before


def test_a_readers_link_on_the_same_route_unsubscribes(installation):
    import_sample(installation.factory)
    with installation.factory() as session:
        reader = session.scalars(select(Subscriber).order_by(Subscriber.id)).first()
        reader_id = reader.id
    url = (
        LinkMaker(installation.settings, _list(installation))
        .recipient(0, reader_id, reader.email, "")
        .unsubscribe_url
    )
    answer = requests.post(
        url, data={"List-Unsubscribe": "One-Click"}, allow_redirects=False, timeout=30
    )
    assert answer.status_code == 200
    with installation.factory() as session:
        status = session.scalar(
            select(Subscription.status).where(Subscription.subscriber_id == reader_id)
        )
    assert status == "unsubscribed"
