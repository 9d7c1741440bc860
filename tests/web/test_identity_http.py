"""The subscribe form over real HTTP finds a person imported in other letter case (one
subscriber)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select, update

from mailer.audience.importing.importer import import_rows, read_csv
from mailer.audience.lists import ensure_list
from mailer.content.lists import load_list
from mailer.content.load import load_issue_for
from mailer.send.campaign import run_send
from mailer.send.ledger import still_eligible
from mailer.store.db import transaction
from mailer.store.models import Delivery, Subscriber, Subscription, Suppression
from mailer.transports.file import FileTransport
from tests.conftest import DB_KINDS, REPO
from tests.track.sns_signing import TOPIC_ARN, Signer, notification
from tests.web.conftest import confirm_path

pytestmark = pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)


def _import(factory, tmp_path, text: str) -> None:
    path = tmp_path / "people.csv"
    path.write_text(text)
    rows, problems = read_csv(path, default_status="pending")
    with factory.begin() as session:
        list_id = ensure_list(session, load_list(REPO / "lists", "ai-morning-post"))
    import_rows(factory, list_id, rows, problems, source="people.csv")


def _people(factory) -> list[tuple]:
    with factory() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(Subscriber.email, Subscriber.name, func.count(Subscription.id))
                .join(Subscription, Subscription.subscriber_id == Subscriber.id)
                .group_by(Subscriber.id, Subscriber.email, Subscriber.name)
            )
        ]


def test_subscribing_in_other_case_after_an_import_is_the_same_person(live, factory, tmp_path):
    _import(factory, tmp_path, "email,name\nalan@example.com,Alan\n")
    page = live.post(
        "/subscribe",
        data={
            "email": "Alan@Example.com",
            "name": "Alan T.",
            "list": "ai-morning-post",
            **live.form_fields("ai-morning-post"),
        },
    )
    assert page.status_code == 200
    assert _people(factory) == [
        ("alan@example.com", "Alan", 1)
    ]  # no second person; address as first given
    [mail] = live.outbox()
    assert mail["To"].addresses[0].addr_spec == "alan@example.com"
    assert live.post(confirm_path(mail)).status_code == 200
    with factory() as s:
        assert s.scalar(select(Subscription.status)) == "confirmed"


def test_a_person_who_signed_up_in_capitals_is_found_by_an_import_in_lower_case(
    live, factory, tmp_path
):
    assert (
        live.post(
            "/subscribe",
            data={
                "email": "ALAN@EXAMPLE.COM",
                "list": "ai-morning-post",
                **live.form_fields("ai-morning-post"),
            },
        ).status_code
        == 200
    )
    _import(factory, tmp_path, "email,name,status\nalan@example.com,Alan,confirmed\n")
    assert _people(factory) == [("ALAN@example.com", "", 1)]


@pytest.mark.parametrize("message_id", ["ses-alan-1", "ses-never-seen"])
def test_an_ses_bounce_for_the_address_in_other_case_suppresses_the_person(
    serve, factory, tmp_path, message_id
):
    """Over real HTTP: a signed SNS envelope to POST /webhooks/ses, correlated with the ledger or
    not."""
    signer = Signer()
    live = serve(settings_changes={"sns_topic_arns": (TOPIC_ARN,)})
    live.app.extensions["mailer"]["sns_fetch_cert"] = lambda url: signer.pem
    _import(factory, tmp_path, "email,name,status\nalan@example.com,Alan,confirmed\n")
    list_def = load_list(REPO / "lists", "ai-morning-post")
    run_send(
        factory,
        live.settings,
        list_def,
        load_issue_for(live.settings, list_def, "2026-11-20"),
        FileTransport(live.settings.outbox_dir),
    )
    with transaction(factory) as session:
        session.execute(update(Delivery).values(provider_message_id="ses-alan-1"))
        list_id = session.scalar(select(Subscription.list_id))
        sub_id = session.scalar(select(Subscriber.id))
        assert still_eligible(session, list_id, [sub_id]) == {sub_id}
    bounce = json.dumps(
        {
            "notificationType": "Bounce",
            "mail": {"messageId": message_id, "destination": ["ALAN@example.com"]},
            "bounce": {
                "bounceType": "Permanent",
                "bounceSubType": "General",
                "feedbackId": "fb-alan",
                "bouncedRecipients": [{"emailAddress": "ALAN@example.com"}],
            },
        }
    )
    response = live.post(
        "/webhooks/ses",
        data=json.dumps(signer.sign(notification(bounce))),
        headers={
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": "Notification",
        },
    )
    assert response.status_code == 200, response.text
    with factory() as session:
        assert still_eligible(session, list_id, [sub_id]) == set()
        assert session.scalar(select(Suppression.reason)) == "hard-bounce"
        expected = "bounced" if message_id == "ses-alan-1" else "sent"
        assert session.scalar(select(Delivery.state)) == expected
