"""Clicks counted in memory, written in batches (ARCHITECTURE.md, "Clicks").

A redirect must answer at once, and a transaction per click would make the database the limit
(SQLite has one writer). So the request thread only adds one to a counter under a lock, and one
flusher thread per process writes everything counted since its last write in ONE transaction
about every second (track/click_counts.py: upserts that add to link_clicks, visitor hashes
inserted once), then deletes past days' salts.

Nothing is lost silently:
- a failed write puts its counts back for the next one, and is logged (once a minute while it
  keeps failing);
- memory is bounded: past MAX_PENDING_COUNTS rows or MAX_PENDING_VISITORS visitors waiting (the
  database unreachable for long), further clicks or visitors are dropped and the number is logged;
- on a graceful stop the process writes what is pending: `close()` runs at interpreter exit
  (atexit), which is how a gunicorn worker ends on SIGTERM or --max-requests (its requests in
  flight finish first), and how `mailer serve` ends on Ctrl-C or SIGTERM. Only SIGKILL loses the
  last second.

The thread starts with the app, so that a past day's salt is deleted within a second of midnight
(or of the start) even when nobody clicks. In a forked child (gunicorn --preload forks after the
app is built; threads do not survive a fork) the counts and locks start afresh, the parent's being
the parent's to write, and the thread starts again on the first click.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from mailer.store.db import transaction
from mailer.track.click_counts import (
    CountKey,
    VisitorKey,
    day_of,
    day_salts,
    drop_past_salts,
    existing_sends,
    write_counts,
    write_visitors,
)

log = logging.getLogger(__name__)
FLUSH_SECONDS = 1.0
MAX_PENDING_COUNTS = 100_000  # link_clicks rows waiting: links x hours x kinds, small unless down
MAX_PENDING_VISITORS = 50_000  # (network, user agent) pairs waiting: ~20 MB at most
FAILURE_LOG_SECONDS = 60.0
CLOSE_TRIES = 3


class ClickCounter:
    def __init__(
        self,
        factory: sessionmaker[Session],
        interval: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.time,
    ):
        self._factory, self._interval, self._clock = factory, interval, clock
        self._salts: dict[tuple[int, dt.date], str] = {}  # committed ones only
        self._cleaned: dt.date | None = None  # the day past salts were last deleted for
        self._closed = False
        self._reset()
        # Weakly held, by the exit handler and by the flusher thread: an app that is dropped (a
        # test's, a reloaded one) takes its counter, engine and pooled connections with it, instead
        # of every app of a process keeping a database connection until the process ends.
        _LIVE.add(self)
        os.register_at_fork(after_in_child=_forked_child(weakref.ref(self)))

    def _reset(self) -> None:
        """A fresh state for this process (at start and in a forked child)."""
        self._pid = os.getpid()
        self._lock = threading.Lock()  # the pending counts (request threads and the flusher)
        self._flush_lock = threading.Lock()  # one write at a time (the flusher, close())
        self._counts: Counter[CountKey] = Counter()
        self._visitors: set[VisitorKey] = set()
        self._dropped_clicks = self._dropped_visitors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures, self._failure_logged = 0, 0.0

    # --- the request thread's side ------------------------------------------------------------

    def add(self, key: CountKey, visitor: VisitorKey | None = None) -> None:
        """Count one click (and its reader's visitor, if any); the flusher writes it."""
        with self._lock:
            if key in self._counts or len(self._counts) < MAX_PENDING_COUNTS:
                self._counts[key] += 1
            else:
                self._dropped_clicks += 1
            if visitor is not None:
                if len(self._visitors) < MAX_PENDING_VISITORS:
                    self._visitors.add(visitor)
                elif visitor not in self._visitors:
                    self._dropped_visitors += 1
            _PENDING.add(self)  # held until written, even if its app is dropped meanwhile
            running = self._thread is not None
        if not running:
            self.start()

    def pending(self) -> int:
        """Clicks counted and not yet written."""
        with self._lock:
            return sum(self._counts.values())

    # --- the flusher ------------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(
                target=_run,
                args=(weakref.ref(self), self._stop, self._interval),
                name="mailer-click-counts",
                daemon=True,
            )
            self._thread.start()

    def flush(self) -> bool:
        """Write what is pending in one transaction; False if that failed (the counts are kept)."""
        with self._flush_lock:
            with self._lock:
                counts, self._counts = self._counts, Counter()
                visitors, self._visitors = self._visitors, set()
                dropped = (self._dropped_clicks, self._dropped_visitors)
                self._dropped_clicks = self._dropped_visitors = 0
            _log_dropped(*dropped)
            today = day_of(self._clock())
            if not counts and not visitors and self._cleaned == today:
                return True
            try:
                salts = self._write(counts, visitors, today)
            except Exception as exc:  # noqa: BLE001 - any failure: keep the counts, try again
                self._put_back(counts, visitors)
                self._log_failure(exc)
                return False
            self._salts = {k: v for k, v in {**self._salts, **salts}.items() if k[1] >= today}
            self._cleaned = today
            with self._lock:
                if not self._counts and not self._visitors:
                    _PENDING.discard(self)
            if self._failures:
                log.warning("click counts written again after %d failed tries", self._failures)
                self._failures = 0
            return True

    def _write(self, counts: Counter[CountKey], visitors: set[VisitorKey], today: dt.date) -> dict:
        """The one transaction; the salts it made or read (cached once it has committed)."""
        with transaction(self._factory) as session:
            sends = {k.send_id for k in counts} | {v.send_id for v in visitors}
            alive = existing_sends(session, sends)
            if sends - alive:
                gone = sum(n for k, n in counts.items() if k.send_id not in alive)
                log.info("%d clicks of deleted send(s) %s not counted", gone, sorted(sends - alive))
                counts = Counter({k: n for k, n in counts.items() if k.send_id in alive})
                visitors = {v for v in visitors if v.send_id in alive}
            wanted = {(v.send_id, v.day) for v in visitors} - set(self._salts)
            salts = day_salts(session, wanted)
            write_counts(session, counts)
            write_visitors(session, visitors, {**self._salts, **salts})
            if self._cleaned != today:
                drop_past_salts(session, today)
        return salts

    def _put_back(self, counts: Counter[CountKey], visitors: set[VisitorKey]) -> None:
        # Within the bounds already: they were counted under them, so nothing is dropped here.
        with self._lock:
            self._counts.update(counts)
            self._visitors |= visitors

    def _log_failure(self, exc: Exception) -> None:
        self._failures += 1
        now = time.monotonic()
        if self._failures == 1 or now - self._failure_logged >= FAILURE_LOG_SECONDS:
            self._failure_logged = now
            log.error(
                "click counts not written (%d clicks kept for the next try, %d tries so far): "
                "%s: %s",
                self.pending(),
                self._failures,
                type(exc).__name__,
                str(exc).splitlines()[0] if str(exc) else "",
            )

    # --- stop -----------------------------------------------------------------------------------

    def close(self, timeout: float = 10.0) -> None:
        """Stop the flusher and write what is pending (at exit: a graceful stop loses nothing)."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if self._pid != os.getpid():
            return
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        for attempt in range(CLOSE_TRIES):
            if self.flush():
                return
            if attempt + 1 < CLOSE_TRIES:
                time.sleep(1.0)
        log.error("%d clicks could not be written before the process ended", self.pending())


_LIVE: weakref.WeakSet[ClickCounter] = weakref.WeakSet()
# Counters holding clicks not yet written, held strongly: `mailer serve` drops its app while SIGTERM
# unwinds, before the exit handler runs, and those clicks must still be written.
_PENDING: set[ClickCounter] = set()


def _run(ref: weakref.ref, stop: threading.Event, interval: float) -> None:
    """The flusher: ends when its counter is closed or gone."""
    while not stop.wait(interval):
        counter = ref()
        if counter is None:
            return
        counter.flush()
        del counter  # no strong reference between ticks


@atexit.register
def _close_all() -> None:
    """At exit (a gunicorn worker's graceful end, `mailer serve` on SIGTERM): what every live
    counter holds is written."""
    for counter in {*_LIVE, *_PENDING}:
        counter.close()


def _forked_child(ref: weakref.ref) -> Callable[[], None]:
    def after_fork() -> None:
        counter = ref()
        if counter is not None:
            counter._reset()

    return after_fork


def _log_dropped(clicks: int, visitors: int) -> None:
    if clicks or visitors:
        log.error(
            "%d clicks and %d visitor hashes not counted: too many were waiting for the database "
            "(limits %d rows, %d visitors)",
            clicks,
            visitors,
            MAX_PENDING_COUNTS,
            MAX_PENDING_VISITORS,
        )
