"""Pacing: a token bucket at the configured rate, capped by the provider's MaxSendRate, that slows
down when the provider throttles and recovers gradually afterwards (additive increase,
multiplicative decrease, like TCP)."""

from __future__ import annotations

import math
import threading
import time

MIN_RATE = 0.5  # messages per second: throttling never slows a send below this
BURST_SECONDS = 0.05  # how much unused time may be caught up at once


def effective_rate(configured: float, max_send_rate: float | None) -> float:
    """The configured rate, never above the account's MaxSendRate."""
    if max_send_rate is not None and max_send_rate > 0:
        return min(configured, max_send_rate)
    return configured


def default_pool_size(rate: float) -> int:
    """Calls in flight: enough for ~100 ms round trips at full rate (twice SES's usual ~50 ms)."""
    return max(4, min(256, math.ceil(rate * 0.1)))


class TokenBucket:
    """`acquire()` blocks until the next message may go. Thread-safe.

    Implemented as virtual scheduling: each message books the next slot 1/rate after the previous one;
    a little idle time (BURST_SECONDS) may be caught up, so pauses do not turn into long bursts.
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
        if slot > now:
            self._sleep(slot - now)

    def throttled(self) -> None:
        """The provider said slow down: halve the rate, at most once per second (a burst of in-flight
        calls failing together is one signal, not many)."""
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
