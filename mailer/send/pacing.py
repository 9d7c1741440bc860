"""Pacing: a token bucket at the configured rate, capped by the provider's MaxSendRate, that slows
down when the provider throttles and recovers gradually afterwards (additive increase,
multiplicative decrease, like TCP)."""

from __future__ import annotations

import math
import threading
import time

MIN_RATE = 0.5  # messages per second: throttling never slows a send below this
BURST_SECONDS = 0.05  # how much unused time may be caught up at once
# A message may leave up to this long before its slot: the sender then sleeps once per few messages
# rather than once per message (at 1,000 msg/s a 1 ms sleep and its wake-up cost more CPU than the
# SES
# call). The average rate is unchanged; at most rate × EARLY_SECONDS messages leave early.
EARLY_SECONDS = 0.005


def effective_rate(configured: float, max_send_rate: float | None) -> float:
    """The configured rate, never above the account's MaxSendRate."""
    if max_send_rate is not None and max_send_rate > 0:
        return min(configured, max_send_rate)
    return configured


def default_pool_size(rate: float) -> int:
    """Calls in flight: enough for ~100 ms round trips at full rate (twice SES's usual ~50 ms), plus
    room for the next claim batch (50 ms worth, see Pipeline._batch_size), which waits for free
    slots."""
    return max(4, min(256, math.ceil(rate * 0.15)))


class TokenBucket:
    """`acquire()` blocks until the next message may go. Thread-safe.

    Implemented as virtual scheduling: each message books the next slot 1/rate after the previous
    one; a little idle time (BURST_SECONDS) may be caught up, so pauses do not turn into long
    bursts.
    """

    def __init__(self, rate: float, clock=time.monotonic, sleep=time.sleep):
        self.target = rate
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self._next = clock()
        self._last_throttle = -math.inf
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(self._next, now - BURST_SECONDS)
            self._next = slot + 1.0 / self.rate
        if slot > now + EARLY_SECONDS:
            self._sleep(slot - now)

    def throttled(self) -> None:
        """The provider said slow down: halve the rate, at most once per second (a burst of
        in-flight calls failing together is one signal, not many)."""
        with self._lock:
            now = self._clock()
            if now - self._last_throttle >= 1.0:
                self._last_throttle = now
                self.rate = max(MIN_RATE, self.rate / 2)
                self._next = max(self._next, now + 1.0 / self.rate)

    def succeeded(self) -> None:
        """Recover towards the target: +2 % of it per success, so ~50 successes undo a halving."""
        if self.rate < self.target:
            with self._lock:
                self.rate = min(self.target, self.rate + self.target * 0.02)

    def cap(self, max_send_rate: float | None) -> None:
        """Apply a (new) account MaxSendRate."""
        with self._lock:
            self.target = effective_rate(self.target, max_send_rate)
            self.rate = min(self.rate, self.target)
