"""Read-only views of the test database, for assertions."""

from __future__ import annotations

from sqlalchemy import select

from mailer.store.models import ConsentEvent, Delivery, Event, Subscription, Suppression


def states(factory) -> dict[int, str]:
    with factory() as s:
        return dict(s.execute(select(Delivery.id, Delivery.state)).all())


def delivery(factory, delivery_id: int) -> Delivery:
    with factory() as s:
        return s.get(Delivery, delivery_id)


def suppressions(factory) -> dict[str, str]:
    with factory() as s:
        return dict(s.execute(select(Suppression.email, Suppression.reason)).all())


def subscription_statuses(factory, subscriber_id: int) -> dict[int, str]:
    with factory() as s:
        return dict(
            s.execute(
                select(Subscription.list_id, Subscription.status).where(
                    Subscription.subscriber_id == subscriber_id
                )
            ).all()
        )


def consent(factory) -> list[tuple]:
    with factory() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(
                    ConsentEvent.subscriber_id,
                    ConsentEvent.list_id,
                    ConsentEvent.action,
                    ConsentEvent.source,
                ).order_by(ConsentEvent.list_id)
            )
        ]


def events(factory) -> list[Event]:
    with factory() as s:
        return list(s.scalars(select(Event).order_by(Event.id)))
