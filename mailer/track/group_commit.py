"""Group commit for the poller's receivers (ARCHITECTURE.md "Stages": track): the received batches
that come in while a transaction is open wait for it, and the next one records all of them.

One transaction is open at a time in a poller process anyway (the GIL runs one recording at a
time, and SQLite has one writer), so a receiver would wait for the writer either way; waiting in a
group costs it nothing more, and the reads before the writes (salt, erased people, ledger rows,
dedup keys), the statements and the commit are paid once per group instead of once per batch of
ten. Several pollers may still share a queue: each event is stored once (its dedup key).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from mailer.content.lists import BouncePolicy
from mailer.store.db import transaction
from mailer.track.record import Inbound, Notification, TrackResult, apply_notifications

log = logging.getLogger("mailer.track")


@dataclass
class _Waiting:
    notifications: list[Notification]
    result: TrackResult | None = None  # None, once done: the group's transaction failed
    done: bool = False


class GroupCommit:
    """`record(notifications)` from any thread; `writer` is the process's one-transaction lock."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        policies: Mapping[int, BouncePolicy] | None,
        inbound: Inbound | None,
        writer: threading.Lock,
    ):
        self.factory, self.policies, self.inbound, self.writer = factory, policies, inbound, writer
        self._pending: list[_Waiting] = []
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        """Batches waiting for the next transaction."""
        with self._lock:
            return len(self._pending)

    def record(self, notifications: list[Notification]) -> TrackResult | None:
        """Record a received batch, committed with the other batches waiting at the time; None when
        that transaction failed (nothing of the group is stored: the caller records its batch
        another way). The group's result is the result of the batch whose thread committed it; the
        others get an empty one (the poller adds them all up)."""
        mine = _Waiting(notifications)
        with self._lock:
            self._pending.append(mine)
        with self.writer:
            if not mine.done:
                with self._lock:
                    group, self._pending = self._pending, []
                self._commit(group, mine)
        return mine.result

    def _commit(self, group: list[_Waiting], mine: _Waiting) -> None:
        notifications = [n for w in group for n in w.notifications]
        try:
            with transaction(self.factory) as session:
                result = apply_notifications(session, notifications, self.policies, self.inbound)
        except Exception:
            log.warning(
                "a group of %d received batch(es) (%d notification(s)) was not recorded: "
                "recording them one by one",
                len(group),
                len(notifications),
                exc_info=True,
            )
            result = None
        for waiting in group:
            waiting.done = True
            if result is not None:
                waiting.result = result if waiting is mine else TrackResult()
