"""The web app's outgoing mail: one sender thread per process, owning one long-lived transport.

Why not send inside the request: the answer to a subscribe request must not reveal whether the
address was known. A known address gets no mail; if an unknown one waited for the SMTP or SES round
trip, the response time would tell them apart. So the request only puts the mail on a queue and
answers; the thread sends it afterwards. One transport for the life of the process also keeps one
SMTP connection (or one HTTPS pool) instead of a handshake per request.

The transport is built with the app, so a bad MAILER_TRANSPORT stops the server at start rather than
failing every mail later. The thread starts on the first mail, and again in a forked child (gunicorn
--preload forks after the app is built; threads do not survive a fork, and a connection must not be
shared with the parent), which builds its own transport. `close()` sends what is queued, then closes
the transport.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from mailer.transports import OutgoingMessage, Transport

log = logging.getLogger(__name__)
_STOP = object()


@dataclass(frozen=True)
class _Task:
    task: Callable[[Transport], None]


class OutboundMail:
    def __init__(self, make_transport: Callable[[], Transport]):
        self._make_transport = make_transport
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.transport: Transport | None = make_transport()
        atexit.register(self.close)

    def submit(self, build: Callable[[], OutgoingMessage]) -> None:
        """Queue a message; `build` runs on the sender thread (the MIME is built there too)."""
        self._ensure_thread()
        self._queue.put(build)

    def run(self, task: Callable[[Transport], None]) -> None:
        """Queue work that sends through the thread's transport itself and records what happened
        (a welcome mail: its ledger row is claimed and finished by `task`, send/welcome.py)."""
        self._ensure_thread()
        self._queue.put(_Task(task))

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far was handed to the transport; False on timeout."""
        with self._queue.all_tasks_done:
            return self._queue.all_tasks_done.wait_for(
                lambda: not self._queue.unfinished_tasks, timeout
            )

    def close(self, timeout: float = 30.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if self._pid != os.getpid():
            return
        if thread is None:  # nothing was ever sent
            self._close_transport()
            return
        self._queue.put(_STOP)
        thread.join(timeout)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            if (
                self._pid != os.getpid()
            ):  # a forked child: the parent's queue, thread and transport are not ours
                self._queue, self.transport = queue.Queue(), None
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="mailer-web-outbound", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            build = self._queue.get()
            try:
                if build is _STOP:
                    self._close_transport()
                    return
                if isinstance(build, _Task):
                    self._run_task(build.task)
                else:
                    self._send(build)
            finally:
                self._queue.task_done()

    def _send(self, build: Callable[[], OutgoingMessage]) -> None:
        message = None
        try:
            message = build()
            if self.transport is None:
                self.transport = self._make_transport()
            self.transport.send(message)
        except Exception as exc:  # noqa: BLE001 - the thread must outlive one bad mail
            # No address in the log: the message's delivery id (a consent event's id) identifies it.
            delivery = message.delivery_id if message is not None else "?"
            log.error(
                "mail %s (%s) not sent: %s: %s",
                delivery,
                message and message.batch,
                type(exc).__name__,
                exc,
            )

    def _run_task(self, task: Callable[[Transport], None]) -> None:
        try:
            if self.transport is None:
                self.transport = self._make_transport()
            task(self.transport)
        except Exception as exc:  # noqa: BLE001 - the thread must outlive one bad task
            log.error("mail task not done: %s: %s", type(exc).__name__, exc)

    def _close_transport(self) -> None:
        transport, self.transport = self.transport, None
        if transport is not None:
            try:
                transport.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("closing the web app's mail transport: %s", exc)
