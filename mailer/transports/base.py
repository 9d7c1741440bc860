"""The transport interface: hand over one message, return the provider's message id, or raise a
TransportError subclass saying what the ledger should do with the row (see mailer.errors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    delivery_id: int
    send_id: int
    recipient: str
    raw: bytes
    batch: str  # where related messages belong, e.g. "ai-morning-post/2026-11-22"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountLimits:
    """What the provider allows right now; None where it does not say."""

    max_send_rate: float | None = None  # messages per second
    max_24h: float | None = None  # negative: unlimited
    sent_24h: float = 0.0
    paused_reason: str | None = None  # sending disabled, account suspended, ...

    @property
    def remaining_24h(self) -> float | None:
        if self.max_24h is None or self.max_24h < 0:
            return None
        return max(0.0, self.max_24h - self.sent_24h)


class Transport(Protocol):
    name: str
    paced: bool  # False: the send rate applies only when asked for explicitly

    def send(self, message: OutgoingMessage) -> str:
        """Deliver one message; return the provider's message id. Safe to call from several
        threads."""

    def was_sent(self, batch: str, delivery_id: int) -> bool | None:
        """After a crash: True/False when the transport can tell, None when it cannot."""

    def limits(self) -> AccountLimits | None:
        """The account's rate and 24-hour quota, or None when the transport has none."""

    def describe(self, batch: str) -> str:
        """Where messages of this batch went, for the summary line."""

    def close(self) -> None: ...
