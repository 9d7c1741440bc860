"""A send on several cores: forked sender processes, each running its own `Pipeline`, sharing the
send through the ledger's claims (one process runs Python on one core at a time: the GIL).
(ARCHITECTURE.md: "The ledger")"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable

from mailer.send.ledger import Ledger
from mailer.send.pipeline import Pipeline, RunResult
from mailer.store.models import DeliveryState


def run_in_processes(
    count: int,
    make: Callable[[], Pipeline],
    ledger: Ledger,
    send_id: int,
    max_retry_wait: float,
    on_outcome: Callable[[str], None] | None = None,
) -> RunResult:
    """`count` forked sender processes, each running the Pipeline `make()` builds in it (its own
    worker name, engine connections and transport), sharing the send through the ledger's claims.
    One process runs Python on one core at a time (the GIL); this is how a send uses more than one.
    """
    ctx = multiprocessing.get_context("fork")
    results = ctx.SimpleQueue()
    procs = [
        ctx.Process(target=_child, args=(make, ledger, max_retry_wait, results), daemon=True)
        for _ in range(count)
    ]
    for proc in procs:
        proc.start()
    progress = _LedgerProgress(ledger, send_id, on_outcome)
    while any(proc.is_alive() for proc in procs):
        procs[0].join(1.0)  # wake every second to report progress
        progress.report()
    merged = RunResult()
    while not results.empty():
        _merge(merged, results.get())
    for proc in procs:
        proc.join()
        if proc.exitcode != 0 and merged.pause_reason is None:
            merged.pause_reason = (
                f"a sender process ended with exit code {proc.exitcode}; rerun to resume"
            )
    progress.report()
    return merged


def _child(make: Callable[[], Pipeline], ledger: Ledger, max_retry_wait: float, results) -> None:
    _die_with_parent()
    ledger.after_fork()
    pipeline = make()
    try:
        result = pipeline.run(max_retry_wait=max_retry_wait)
    finally:
        pipeline.transport.close()
    results.put(result)


def _die_with_parent() -> None:
    """A killed parent takes its senders with it (Linux); their rows are then settled like its
    own."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:
        os._exit(1)


def _merge(total: RunResult, part: RunResult) -> None:
    total.handed_over += part.handed_over
    for state, n in part.by_state.items():
        total.by_state[state] = total.by_state.get(state, 0) + n
    total.pause_reason = total.pause_reason or part.pause_reason
    total.stopped_by_limit = total.stopped_by_limit or part.stopped_by_limit


class _LedgerProgress:
    """Outcomes of child processes, seen as changes in the ledger's counts, for the progress
    callback."""

    SETTLED = (
        DeliveryState.SENT,
        DeliveryState.FAILED,
        DeliveryState.UNKNOWN,
        DeliveryState.SKIPPED,
    )

    def __init__(self, ledger: Ledger, send_id: int, on_outcome: Callable[[str], None] | None):
        self.ledger, self.send_id, self.on_outcome = ledger, send_id, on_outcome
        self.seen = self._counts() if on_outcome else {}

    def _counts(self) -> dict[str, int]:
        return self.ledger.counts(self.send_id, self.SETTLED)

    def report(self) -> None:
        if not self.on_outcome:
            return
        now = self._counts()
        for state, n in now.items():
            for _ in range(n - self.seen.get(state, 0)):
                self.on_outcome(state)
        self.seen = now
