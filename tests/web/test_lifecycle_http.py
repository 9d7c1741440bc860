"""The subscriber lifecycle through real HTTP against the app served on 127.0.0.1."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from mailer.audience.suppressions import suppress
from mailer.store.models import ConsentEvent, Subscriber, Subscription
from mailer.tokens import make_token
from tests.conftest import DB_KINDS, SECRET
from tests.web.conftest import confirm_path

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
LIST = "ai-morning-post"
OTHER = "weekend-digest"


def status_of(factory, email: str, slug: str = LIST) -> str | None:
    from mailer.store.models import MailingList

    with factory() as s:
        return s.scalar(
            select(Subscription.status)
            .join(Subscriber, Subscriber.id == Subscription.subscriber_id)
            .join(MailingList, MailingList.id == Subscription.list_id)
            .where(Subscriber.email == email, MailingList.slug == slug)
        )


def subscriber_id(factory, email: str) -> int:
    with factory() as s:
        return s.scalar(select(Subscriber.id).where(Subscriber.email == email))


def events(factory, email: str) -> list[tuple[str, str]]:
    with factory() as s:
        return [
            (e.action, e.source)
            for e in s.scalars(
                select(ConsentEvent)
                .join(Subscriber, Subscriber.id == ConsentEvent.subscriber_id)
                .where(Subscriber.email == email)
                .order_by(ConsentEvent.id)
            )
        ]


def subscribe(live, email: str, slug: str = LIST, headers: dict | None = None, **extra):
    """Post the form as a browser does: with the hidden fields of the page it was loaded from."""
    return live.post(
        "/subscribe",
        data={**live.form_fields(slug), "email": email, "name": "Ada", **extra},
        headers={"User-Agent": "pytest-browser/1.0", **(headers or {})},
    )


def join(live, factory, email: str, slug: str = LIST) -> int:
    """Subscribe and confirm; the subscriber's id."""
    assert subscribe(live, email, slug).status_code == 200
    assert live.post(confirm_path(live.outbox()[-1])).status_code == 200
    assert status_of(factory, email, slug) == "confirmed"
    return subscriber_id(factory, email)


def unsub_path(
    sub_id: int, slug: str = LIST, key: str = SECRET, purpose: str = "unsubscribe"
) -> str:
    page = "manage" if purpose == "manage" else "unsubscribe"
    return f"/{page}/{make_token(key, purpose, sub_id, slug)}"


def test_subscribe_confirm_one_click_unsubscribe(live, factory):
    page = live.get("/subscribe/ai-morning-post")
    assert (
        page.status_code == 200
        and 'name="website"' in page.text
        and "The AI Morning Post" in page.text
    )
    assert subscribe(live, "Ada@Example.COM").status_code == 200
    assert status_of(factory, "Ada@example.com") == "pending"
    [mail] = live.outbox()
    assert mail["To"].addresses[0].addr_spec == "Ada@example.com"
    assert mail["From"].addresses[0].addr_spec == "morning@aimorningpost.example"
    assert mail["Reply-To"] == "editors@aimorningpost.example"
    confirmed = live.post(confirm_path(mail))
    assert confirmed.status_code == 200 and "subscribed" in confirmed.text
    assert status_of(factory, "Ada@example.com") == "confirmed"

    sub_id = subscriber_id(factory, "Ada@example.com")
    one_click = live.post(unsub_path(sub_id), data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "Set-Cookie" not in one_click.headers
    assert status_of(factory, "Ada@example.com") == "unsubscribed"
    assert events(factory, "Ada@example.com") == [
        ("subscribe", "web"),
        ("confirm", "web"),
        ("unsubscribe", "one-click"),
    ]
    with factory() as s:
        first = s.scalar(select(ConsentEvent).order_by(ConsentEvent.id).limit(1))
    assert (
        first.ip == "127.0.0.1"
        and first.user_agent == "pytest-browser/1.0"
        and "web-subscribe-v1" in first.detail
    )


def test_one_click_multipart_is_idempotent_without_cookies_or_redirects(live, factory):
    sub_id = join(live, factory, "grace@example.net")
    for _ in range(3):
        response = live.post(unsub_path(sub_id), files={"List-Unsubscribe": (None, "One-Click")})
        assert (
            response.status_code == 200
            and not response.is_redirect
            and "Set-Cookie" not in response.headers
        )
    assert status_of(factory, "grace@example.net") == "unsubscribed"
    assert events(factory, "grace@example.net").count(("unsubscribe", "one-click")) == 1


def test_get_never_changes_state(live, factory):
    sub_id = join(live, factory, "alan@example.org")
    for path in (unsub_path(sub_id), unsub_path(sub_id, purpose="manage")):
        for method in ("get", "head"):
            assert getattr(live, method)(path).status_code == 200
    page = live.get(unsub_path(sub_id))
    assert 'id="unsubscribe-button"' in page.text and 'id="unsubscribe-all-button"' in page.text
    assert status_of(factory, "alan@example.org") == "confirmed"
    assert live.get(unsub_path(sub_id), params={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert status_of(factory, "alan@example.org") == "confirmed"


def test_unsubscribe_page_offers_all_lists(live, factory):
    sub_id = join(live, factory, "radia@example.org")
    join(live, factory, "radia@example.org", OTHER)
    assert live.post(unsub_path(sub_id), data={"scope": "all"}).status_code == 200
    assert status_of(factory, "radia@example.org") == "unsubscribed"
    assert status_of(factory, "radia@example.org", OTHER) == "unsubscribed"


def test_manage_page_unsubscribes_one_list(live, factory):
    sub_id = join(live, factory, "frances@example.com")
    join(live, factory, "frances@example.com", OTHER)
    page = live.get(unsub_path(sub_id, purpose="manage"))
    assert "The Weekend Digest: confirmed" in page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    token = fields["form_token"]  # the page's forms carry it (web/manage.py)
    path = unsub_path(sub_id, purpose="manage")
    assert live.post(path, data={"scope": "list"}).status_code == 403  # not from the page
    assert status_of(factory, "frances@example.com") == "confirmed"
    assert live.post(path, data={"scope": "list", "form_token": token}).status_code == 200
    assert status_of(factory, "frances@example.com") == "unsubscribed"
    assert status_of(factory, "frances@example.com", OTHER) == "confirmed"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: "forged." + t.split(".", 1)[1],
        # the signature's first character: its last one may hold only base64 padding bits
        lambda t: (
            t.rsplit(".", 1)[0]
            + "."
            + ("A" if t.rsplit(".", 1)[1][0] != "A" else "B")
            + t.rsplit(".", 1)[1][1:]
        ),
        lambda t: "not-a-token",
        lambda t: make_token("some-other-secret-key-123456", "unsubscribe", 1, LIST),
        lambda t: make_token(SECRET, "confirm", 1, LIST),
        lambda t: make_token(SECRET, "manage", 1, LIST),
    ],
    ids=[
        "forged-payload",
        "tampered-signature",
        "garbage",
        "foreign-key",
        "confirm-purpose",
        "manage-purpose",
    ],
)
def test_bad_tokens_are_400_and_change_nothing(live, factory, mangle):
    sub_id = join(live, factory, "edsger@example.net")
    bad = mangle(make_token(SECRET, "unsubscribe", sub_id, LIST))
    for response in (
        live.get(f"/unsubscribe/{bad}"),
        live.post(f"/unsubscribe/{bad}", data={"List-Unsubscribe": "One-Click"}),
    ):
        assert response.status_code == 400
        assert "edsger" not in response.text
    assert status_of(factory, "edsger@example.net") == "confirmed"


def test_unsubscribe_and_manage_tokens_do_not_confirm(live, factory):
    assert subscribe(live, "marvin@example.net").status_code == 200
    sub_id = subscriber_id(factory, "marvin@example.net")
    for purpose in ("unsubscribe", "manage"):
        assert live.get(f"/confirm/{make_token(SECRET, purpose, sub_id, LIST)}").status_code == 400
        assert live.post(f"/confirm/{make_token(SECRET, purpose, sub_id, LIST)}").status_code == 400
    assert live.get(unsub_path(sub_id, purpose="manage")).status_code == 200
    assert status_of(factory, "marvin@example.net") == "pending"


def test_token_for_one_list_leaves_the_other_alone(live, factory):
    sub_id = join(live, factory, "barbara@example.com")
    join(live, factory, "barbara@example.com", OTHER)
    assert (
        live.post(unsub_path(sub_id, OTHER), data={"List-Unsubscribe": "One-Click"}).status_code
        == 200
    )
    assert status_of(factory, "barbara@example.com", OTHER) == "unsubscribed"
    assert status_of(factory, "barbara@example.com") == "confirmed"
    # Swapping the list inside the token breaks its signature.
    token = make_token(SECRET, "unsubscribe", sub_id, OTHER)
    other = make_token(SECRET, "unsubscribe", sub_id, LIST)
    spliced = other.split(".")[0] + "." + ".".join(token.split(".")[1:])
    assert (
        live.post(f"/unsubscribe/{spliced}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 400
    )
    assert status_of(factory, "barbara@example.com") == "confirmed"


def test_old_keys_still_verify(serve, factory):
    old_key = "the-previous-secret-key-000000"
    server = serve(
        settings_changes={
            "secret_key": "the-new-secret-key-1111111111",
            "old_secret_keys": (old_key,),
        }
    )
    assert subscribe(server, "ken@example.com").status_code == 200
    assert server.post(confirm_path(server.outbox()[-1])).status_code == 200
    sub_id = subscriber_id(factory, "ken@example.com")
    assert server.get(unsub_path(sub_id, key=old_key)).status_code == 200
    assert server.get(unsub_path(sub_id, key="never-configured-key-22222")).status_code == 400
    assert (
        server.post(
            unsub_path(sub_id, key=old_key), data={"List-Unsubscribe": "One-Click"}
        ).status_code
        == 200
    )
    assert status_of(factory, "ken@example.com") == "unsubscribed"


def test_expired_confirmation_offers_a_new_mail(live, factory, monkeypatch):
    import time

    import itsdangerous.timed

    assert subscribe(live, "linus@example.net").status_code == 200
    sub_id = subscriber_id(factory, "linus@example.net")
    real = time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real() - 8 * 24 * 3600)
    old = make_token(SECRET, "confirm", sub_id, LIST)
    monkeypatch.undo()
    for expired in (live.get(f"/confirm/{old}"), live.post(f"/confirm/{old}")):
        assert (
            expired.status_code == 410
            and "expired" in expired.text
            and 'id="resend-button"' in expired.text
        )
    assert status_of(factory, "linus@example.net") == "pending"
    assert live.post(f"/confirm/{old}/resend").status_code == 200
    assert len(live.outbox()) == 2
    assert live.post(confirm_path(live.outbox()[-1])).status_code == 200
    assert status_of(factory, "linus@example.net") == "confirmed"


def test_resubscribing_after_unsubscribe_needs_confirmation_again(live, factory):
    sub_id = join(live, factory, "hedy@example.com")
    first_link = confirm_path(live.outbox()[-1])
    live.post(unsub_path(sub_id), data={"List-Unsubscribe": "One-Click"})
    assert live.post(first_link).status_code == 410
    assert status_of(factory, "hedy@example.com") == "unsubscribed"
    assert subscribe(live, "hedy@example.com").status_code == 200
    assert status_of(factory, "hedy@example.com") == "pending"
    assert live.post(confirm_path(live.outbox()[-1])).status_code == 200
    assert status_of(factory, "hedy@example.com") == "confirmed"


def test_the_answer_never_reveals_whether_an_address_is_known(live, factory):
    join(live, factory, "known@example.com")
    with factory.begin() as s:
        suppress(s, "bounced@example.com", "hard-bounce")
    mails_before = len(live.outbox())
    pages = {
        email: subscribe(live, email)
        for email in ("known@example.com", "bounced@example.com", "new@example.com")
    }
    assert {r.status_code for r in pages.values()} == {200}
    assert len({r.text for r in pages.values()}) == 1
    recipients = [m["To"].addresses[0].addr_spec for m in live.outbox()[mails_before:]]
    assert recipients == ["new@example.com"]
    assert subscriber_id(factory, "bounced@example.com") is None


def test_honeypot_and_rate_limit(serve, factory):
    live = serve(subscribe_limit=(3, 600.0))
    same = subscribe(live, "bot@example.com", website="http://spam.example")
    assert same.status_code == 200 and "Check your inbox" in same.text
    assert subscriber_id(factory, "bot@example.com") is None and live.outbox() == []
    assert subscribe(live, "a@example.com").status_code == 200
    assert subscribe(live, "b@example.com").status_code == 200
    limited = subscribe(live, "c@example.com")
    assert limited.status_code == 429
    assert subscriber_id(factory, "c@example.com") is None


def test_form_errors_escape_what_was_typed(live):
    response = live.post(
        "/subscribe",
        data={**live.form_fields(), "email": "<script>alert(1)</script>", "name": '"><img src=x>'},
    )
    assert response.status_code == 400
    assert "<script>alert(1)" not in response.text and "&lt;script&gt;" in response.text
    assert '"><img' not in response.text


def test_unknown_list_and_pages_are_404(live):
    assert live.get("/subscribe", params={"list": "../etc"}).status_code == 404
    assert live.get("/archive/ai-morning-post/2026-13-45").status_code == 404
    assert live.get("/archive/ai-morning-post/2020-01-01").status_code == 404
    assert live.get("/healthz").json() == {"status": "ok"}
