"""A ledger held in dicts: the pipeline's `SendLedger` Protocol without a database, keeping the
rules the real one keeps (claims are compare-and-set on state and worker, a claim counts an attempt,
a row given back without a call does not)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from mailer.send.ledger import ClaimedBatch, ClaimedDelivery, Outcome
from mailer.send.pipeline import SendLedger
from mailer.store.models import DeliveryState, utcnow


@dataclass
class MemoryRow:
    id: int
    subscriber_id: int
    email: str
    state: DeliveryState = DeliveryState.QUEUED
    attempts: int = 0
    claimed_by: str | None = None
    not_before: dt.datetime | None = None
    provider_message_id: str | None = None
    last_error: str | None = None


class MemoryLedger:
    """One send's ledger in memory; `transactions` counts the calls (each would be one)."""

    def __init__(self, emails: Sequence[str], ineligible: Sequence[str] = ()):
        self.rows = {n: MemoryRow(n, 1000 + n, email) for n, email in enumerate(emails, start=1)}
        self.ineligible = {
            row.subscriber_id for row in self.rows.values() if row.email in ineligible
        }
        self.transactions = 0
        self.heartbeats = 0
        self._lock = threading.Lock()

    def claim(self, send_id: int, list_id: int, count: int, worker: str) -> ClaimedBatch:
        with self._lock:
            self.transactions += 1
            now = utcnow()
            due = [
                row
                for row in self.rows.values()
                if row.state == DeliveryState.QUEUED
                and (row.not_before is None or row.not_before <= now)
            ][:count]
            ready: list[ClaimedDelivery] = []
            for row in due:
                row.attempts += 1
                row.state, row.claimed_by = DeliveryState.SENDING, worker
                if row.subscriber_id in self.ineligible:
                    row.state, row.last_error = DeliveryState.SKIPPED, "unsubscribed since planning"
                else:
                    ready.append(
                        ClaimedDelivery(
                            row.id,
                            row.subscriber_id,
                            row.email,
                            "",
                            row.attempts,
                            f"<{row.id}@test>",
                        )
                    )
            return ClaimedBatch(ready, skipped=len(due) - len(ready))

    def _held(self, delivery_id: int, worker: str) -> MemoryRow | None:
        row = self.rows[delivery_id]
        return row if row.state == DeliveryState.SENDING and row.claimed_by == worker else None

    def finish_many(self, outcomes: Sequence[Outcome], worker: str) -> None:
        with self._lock:
            self.transactions += 1
            for outcome in outcomes:
                row = self._held(outcome.claim.id, worker)
                if row is None:
                    continue
                row.state, row.last_error = outcome.state, outcome.error
                row.provider_message_id = outcome.message_id or row.provider_message_id
                if outcome.state == DeliveryState.QUEUED:
                    row.not_before = outcome.not_before
                    row.attempts -= 0 if outcome.handed_over else 1

    def release(self, delivery_ids: list[int], worker: str) -> None:
        with self._lock:
            self.transactions += 1
            for delivery_id in delivery_ids:
                if (row := self._held(delivery_id, worker)) is not None:
                    row.state, row.attempts = DeliveryState.QUEUED, row.attempts - 1

    def heartbeat(self, send_id: int, worker: str) -> None:
        with self._lock:
            self.transactions += 1
            self.heartbeats += 1

    def next_due(self, send_id: int) -> float | None:
        with self._lock:
            self.transactions += 1
            queued = [row for row in self.rows.values() if row.state == DeliveryState.QUEUED]
            if not queued:
                return None
            times = [row.not_before for row in queued if row.not_before is not None]
            if len(times) < len(queued):
                return 0.0
            return max(0.0, (min(times) - utcnow()).total_seconds())


_: type[SendLedger] = MemoryLedger  # a type checker holds it to the Protocol the pipeline takes
