"""Each recipient's links: unsubscribe and manage URLs with signed tokens, and the List-Unsubscribe
mailto."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from mailer.config import Settings
from mailer.content.lists import ListDefinition
from mailer.send.message import Recipient, new_message_id
from mailer.tokens import TokenMaker


@lru_cache(maxsize=32)
def _token_maker(secret_key: str, purpose: str, list_slug: str) -> TokenMaker:
    return TokenMaker(secret_key, purpose, list_slug)


@dataclass(frozen=True)
class LinkMaker:
    settings: Settings
    list_def: ListDefinition

    def recipient(
        self,
        delivery_id: int,
        subscriber_id: int,
        email: str,
        name: str,
        message_id: str | None = None,
        plain_links: bool = False,
    ) -> Recipient:
        """`message_id`: the ledger row's; None for a message outside the ledger, which gets a new
        one. `plain_links`: the subscriber asked for links as written (Subscriber.plain_links)."""
        key = self.settings.require_secret_key()
        unsub = _token_maker(key, "unsubscribe", self.list_def.slug).token(subscriber_id)
        manage = _token_maker(key, "manage", self.list_def.slug).token(subscriber_id)
        return Recipient(
            delivery_id=delivery_id,
            email=email,
            name=name,
            unsubscribe_url=f"{self.settings.base_url}/unsubscribe/{unsub}",
            manage_url=f"{self.settings.base_url}/manage/{manage}",
            unsubscribe_mailto=f"mailto:{self.list_def.unsubscribe_mailbox}?subject=unsubscribe%20{unsub}",
            message_id=message_id or new_message_id(self.list_def.domain),
            plain_links=plain_links,
        )
