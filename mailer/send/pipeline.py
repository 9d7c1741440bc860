"""The concurrent half of a send: claim rows, pace, call the transport from a pool of threads, and
commit each outcome right after the call (ARCHITECTURE.md: "The ledger").

    main thread ──claim (committed)──▶ token bucket ──▶ pool: personalise + transport.send
                                                          │
    committer thread ◀──────────── outcome queue ◀───────┘   (commits outcomes as they arrive,
                                                              renews this worker's lease)

A row is claimed (state 'sending', committed) before its call and settled right after it; a crash in
between leaves it 'sending', which the next run settles as 'unknown' unless the transport can tell.
Every transaction is the ledger's (`SendLedger`: send.ledger.Ledger, or a stand-in in tests).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from mailer.errors import (
    ConnectionFailedError,
    OutcomeUnknownError,
    PermanentError,
    RetryableError,
    SendPausedError,
    ThrottledError,
)
from mailer.send.ledger import ClaimedBatch, ClaimedDelivery, Outcome
from mailer.send.pacing import TokenBucket
from mailer.store.models import DeliveryState, utcnow
from mailer.transports.base import AccountLimits, OutgoingMessage, Transport

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8  # retryable errors other than throttling: then the row fails with the last error
LIMITS_REFRESH = 60.0  # seconds between re-reads of the account's quota while sending
# Outcomes arriving within this long share one commit (a group commit): at a paced 1,000 msg/s they
# arrive ~1 ms apart, and one transaction each cost more CPU than the SES call. A crash in this
# window
# leaves the rows 'sending', settled like any other interrupted call.
COMMIT_LINGER = 0.01
# While the transport cannot be reached, one message at a time probes it, this often at most (and at
# least five times within the down_after window), instead of every thread hammering a dead server.
PROBE_EVERY = 1.0
STOPPED_REASON = (
    "stopped before the end (SIGTERM): the messages in flight were finished; rerun to resume"
)


class SendLedger(Protocol):
    """What a pipeline needs of the ledger: each call one transaction (send.ledger.Ledger)."""

    def claim(self, send_id: int, list_id: int, count: int, worker: str) -> ClaimedBatch: ...

    def finish_many(self, outcomes: Sequence[Outcome], worker: str) -> None: ...

    def release(self, delivery_ids: list[int], worker: str) -> None: ...

    def heartbeat(self, send_id: int, worker: str) -> None: ...

    def next_due(self, send_id: int) -> float | None: ...


@dataclass
class RunResult:
    handed_over: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    pause_reason: str | None = None
    stopped_by_limit: bool = False


class Pipeline:
    def __init__(
        self,
        ledger: SendLedger,
        transport: Transport,
        *,
        send_id: int,
        list_id: int,
        worker: str,
        bucket: TokenBucket,
        pool_size: int,
        build: Callable[[ClaimedDelivery], OutgoingMessage],
        limits: AccountLimits | None = None,
        lease_seconds: float = 120.0,
        on_outcome: Callable[[str], None] | None = None,
        guard: Callable[[int], str | None] | None = None,
        down_after: float = 60.0,
        stop: threading.Event | None = None,
    ):
        self.ledger, self.transport, self.build = ledger, transport, build
        self.send_id, self.list_id, self.worker = send_id, list_id, worker
        self.bucket, self.pool_size = bucket, pool_size
        self.on_outcome = on_outcome
        # given the messages handed over so far, a pause reason when the send's rates cross the
        # list's
        # thresholds (it decides itself how often to look: guardrail.Cadence)
        self.guard = guard
        # set from outside (the autopilot's SIGTERM): no new message is handed over, the calls in
        # flight finish and are committed, and the run ends paused with STOPPED_REASON
        self.stop = stop
        self.heartbeat_every = max(0.5, lease_seconds / 4)
        self.result = RunResult()
        self._outcomes: queue.Queue[Outcome | None] = queue.Queue()
        self._cv = threading.Condition()
        self._inflight = 0
        self._quota_left: float | None = None
        # Consecutive connection failures: since when (monotonic), None while the transport answers.
        self.down_after = down_after
        self._down_since: float | None = None
        self._probed_at = 0.0
        self._limits_read_at = time.monotonic()
        self._apply_limits(limits)

    # -- control ------------------------------------------------------------------------------
    def pause(self, reason: str) -> None:
        with self._cv:
            if self.result.pause_reason is None:
                self.result.pause_reason = reason
                log.warning("pausing the send: %s", reason)

    @property
    def paused(self) -> bool:
        return self.result.pause_reason is not None

    @property
    def transport_down(self) -> bool:
        return self._down_since is not None

    def _connection_failed(self, error: ConnectionFailedError) -> None:
        """One more failed connection; after `down_after` seconds of nothing but these, pause the
        send."""
        now = time.monotonic()
        with self._cv:
            if self._down_since is None:
                self._down_since = now
            down_for = now - self._down_since
            self.result.handed_over -= (
                1  # nothing was handed over (--limit and the guardrail count these)
            )
        if down_for >= self.down_after:
            self.pause(
                f"the transport has been unreachable for {down_for:.0f}s ({error}); "
                "check it, then rerun to resume"
            )

    def _transport_answered(self) -> None:
        self._down_since = None

    def _wait_for_probe(self) -> None:
        """While the transport is down: nothing in flight, then one message every PROBE_EVERY
        seconds."""
        with self._cv:
            while self._inflight:
                self._cv.wait()
        interval = min(PROBE_EVERY, self.down_after / 5)
        time.sleep(max(0.0, self._probed_at + interval - time.monotonic()))
        self._probed_at = time.monotonic()

    def _apply_limits(self, limits: AccountLimits | None) -> None:
        if limits is None:
            return
        self.bucket.cap(limits.max_send_rate)
        if limits.paused_reason:
            self.pause(limits.paused_reason)
        self._quota_left = limits.remaining_24h
        if self._quota_left is not None and self._quota_left < 1:
            self.pause(
                f"the 24-hour sending quota is used up ({limits.sent_24h:.0f} of "
                f"{limits.max_24h:.0f}); "
                "rerun when it has recovered"
            )

    def _spend_quota(self) -> bool:
        if time.monotonic() - self._limits_read_at > LIMITS_REFRESH:
            self._limits_read_at = time.monotonic()
            self._apply_limits(self.transport.limits())
        if self._quota_left is None:
            return not self.paused
        if self._quota_left < 1:
            self.pause("the 24-hour sending quota is reached; rerun when it has recovered")
            return False
        self._quota_left -= 1
        return not self.paused

    # -- main loop ----------------------------------------------------------------------------
    def run(self, limit: int | None = None, max_retry_wait: float = 120.0) -> RunResult:
        committer = threading.Thread(target=self._commit_loop, name="ledger-committer", daemon=True)
        committer.start()
        pool = ThreadPoolExecutor(self.pool_size, thread_name_prefix="send")
        try:
            self._loop(pool, limit, max_retry_wait)
        finally:
            pool.shutdown(wait=True)
            self._outcomes.put(None)
            committer.join()
        return self.result

    def _stop_requested(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            self.pause(STOPPED_REASON)
            return True
        return False

    def _check_guard(self) -> None:
        if self.guard and (reason := self.guard(self.result.handed_over)):
            self.pause(reason)

    def _loop(self, pool: ThreadPoolExecutor, limit: int | None, max_retry_wait: float) -> None:
        while not self.paused and not self._stop_requested():
            # the first call always looks: a rerun does not push a paused send on
            self._check_guard()
            if self.paused:
                return
            if self.transport_down:
                self._wait_for_probe()
                if self.paused:
                    return
            batch = 1 if self.transport_down else self._batch_size()
            room = self._wait_for_room(batch)
            if limit is not None:
                if self.result.handed_over >= limit:
                    self.result.stopped_by_limit = True
                    return
                room = min(room, limit - self.result.handed_over)
            claims = self._claim(min(room, batch))
            if not claims:
                if self._inflight:
                    with self._cv:
                        self._cv.wait(0.05)
                    continue
                wait = self.ledger.next_due(self.send_id)
                if wait is None:
                    return
                if wait > max_retry_wait:
                    self.pause(f"messages wait {wait:.0f}s for a retry; rerun to resume")
                    return
                time.sleep(min(max(wait, 0.02), 1.0))
                continue
            self._submit_all(pool, claims)

    def _submit_all(self, pool: ThreadPoolExecutor, claims: list[ClaimedDelivery]) -> None:
        for index, claim in enumerate(claims):
            self.bucket.acquire()
            if self._stop_requested() or not self._spend_quota():
                self.ledger.release([c.id for c in claims[index:]], self.worker)
                return
            with (
                self._cv
            ):  # under the lock: a pool thread gives back a call that never reached the transport
                self._inflight += 1
                self.result.handed_over += 1
            pool.submit(self._deliver, claim)

    def _batch_size(self) -> int:
        """Rows per claim: 50 ms worth at the current rate, at most half the pool."""
        return max(1, min(self.pool_size // 2, int(self.bucket.rate * 0.05)))

    def _wait_for_room(self, wanted: int) -> int:
        """Wait until `wanted` calls may start: a claim (two queries) per few free slots would cost
        more CPU than the calls; claimed rows are never left waiting for a slot."""
        with self._cv:
            while self.pool_size - self._inflight < wanted:
                self._cv.wait()
            return self.pool_size - self._inflight

    def _claim(self, count: int) -> list[ClaimedDelivery]:
        batch = self.ledger.claim(self.send_id, self.list_id, count, self.worker)
        if batch.skipped:
            self._count(DeliveryState.SKIPPED, batch.skipped)
        return batch.ready

    # -- one message (pool thread) ------------------------------------------------------------
    def _deliver(self, claim: ClaimedDelivery) -> None:
        try:
            message = self.build(claim)
        except (
            PermanentError
        ) as exc:  # this row's data makes no message (an address stored before the rules)
            self._outcomes.put(Outcome(claim, DeliveryState.FAILED, error=f"not sent: {exc}"))
            return
        except Exception as exc:  # a bug before the call: nothing went out
            log.exception("cannot build the message for delivery %s", claim.id)
            self.pause(f"cannot build the message for delivery {claim.id}: {exc!r}")
            self._outcomes.put(Outcome(claim, DeliveryState.QUEUED, error=f"not sent: {exc!r}"))
            return
        self._outcomes.put(self._call(claim, message))

    def _call(self, claim: ClaimedDelivery, message: OutgoingMessage) -> Outcome:
        try:
            message_id = self.transport.send(message)
        except ConnectionFailedError as exc:  # before RetryableError: the attempt is given back
            self._connection_failed(exc)
            return Outcome(claim, DeliveryState.QUEUED, error=f"not sent: {exc}", handed_over=False)
        except ThrottledError as exc:
            self._transport_answered()
            self.bucket.throttled()
            retry_at = _later(exc.retry_after or 1.0, jitter=1.0)
            return Outcome(claim, DeliveryState.QUEUED, error=str(exc), not_before=retry_at)
        except RetryableError as exc:
            self._transport_answered()
            if claim.attempts >= MAX_ATTEMPTS:
                error = f"gave up after {claim.attempts} attempts: {exc}"
                return Outcome(claim, DeliveryState.FAILED, error=error)
            delay = exc.retry_after or min(60.0, 2.0**claim.attempts)
            return Outcome(claim, DeliveryState.QUEUED, error=str(exc), not_before=_later(delay))
        except PermanentError as exc:
            self._transport_answered()
            return Outcome(claim, DeliveryState.FAILED, error=str(exc))
        except OutcomeUnknownError as exc:
            self._transport_answered()
            return Outcome(claim, DeliveryState.UNKNOWN, error=str(exc))
        except SendPausedError as exc:
            self.pause(str(exc))
            return Outcome(claim, DeliveryState.QUEUED, error=f"not sent, send paused: {exc}")
        except Exception as exc:  # an unexpected failure inside the call: it may have gone out
            log.exception("transport failed unexpectedly for delivery %s", claim.id)
            self.pause(f"transport failed unexpectedly: {exc!r}")
            error = f"unexpected transport failure: {exc!r}"
            return Outcome(claim, DeliveryState.UNKNOWN, error=error)
        self._transport_answered()
        self.bucket.succeeded()
        return Outcome(claim, DeliveryState.SENT, message_id=message_id)

    # -- committer thread ---------------------------------------------------------------------
    def _commit_loop(self) -> None:
        last_beat, done = time.monotonic(), False
        while not done:
            batch, done = self._next_batch()
            if batch:
                self._commit(batch)
            if time.monotonic() - last_beat >= self.heartbeat_every:
                last_beat = time.monotonic()
                try:
                    self.ledger.heartbeat(self.send_id, self.worker)
                except Exception as exc:  # noqa: BLE001 - reported as a pause, the loop keeps draining
                    self.pause(f"database error while renewing the lease: {exc}")

    def _next_batch(self) -> tuple[list[Outcome], bool]:
        try:
            first = self._outcomes.get(timeout=self.heartbeat_every)
        except queue.Empty:
            return [], False
        if first is None:
            return [], True
        batch = [first]
        if self._outcomes.qsize() < self.pool_size // 2:
            time.sleep(COMMIT_LINGER)
        while True:
            try:
                item = self._outcomes.get_nowait()
            except queue.Empty:
                return batch, False
            if item is None:
                return batch, True
            batch.append(item)

    def _commit(self, batch: list[Outcome]) -> None:
        try:
            self.ledger.finish_many(batch, self.worker)
        except Exception as exc:  # noqa: BLE001 - rows stay 'sending'; the next run settles them
            log.exception("cannot record %d outcomes", len(batch))
            self.pause(f"database error while recording outcomes: {exc}")
        with self._cv:
            self._inflight -= len(batch)
            self._cv.notify_all()
        for o in batch:
            self._count(o.state)

    def _count(self, state: DeliveryState, n: int = 1) -> None:
        with self._cv:
            self.result.by_state[state] = self.result.by_state.get(state, 0) + n
        if self.on_outcome:
            for _ in range(n):
                self.on_outcome(state)


def _later(seconds: float, jitter: float = 0.0) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds + random.uniform(0, jitter))
