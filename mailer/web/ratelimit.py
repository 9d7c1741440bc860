"""A per-client limit for the subscribe form, shared by every web worker through the database.

An in-memory limit would be per gunicorn process (N workers: N times the limit, and more again with
several machines). Here each client has a row per fixed window holding its hits, incremented with one
atomic upsert, so concurrent workers can never both take the last slot. The decision uses a sliding
estimate: this window's hits plus the previous window's, weighted by how much of it still lies inside
the last `window` seconds. Requests over the limit count too, so a client hammering the form stays
limited until it slows down.

Clients are keyed by an HMAC of their IP address with the secret key: the table holds no addresses.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from ..db import transaction
from ..models import RateLimitWindow
from ..store import dialect_insert

_CLEANUP_CHANCE = 1 / 50  # now and then, forget windows that no decision reads any more


class RateLimiter:
    def __init__(self, factory: sessionmaker[Session], secret_key: str, limit: int, window: float,
                 clock=time.time):
        if limit < 1 or window <= 0:
            raise ValueError(f"rate limit must be at least 1 per positive window, not {limit} per {window}")
        self.factory = factory
        self.secret = secret_key.encode()
        self.limit = limit
        self.window = window
        self.clock = clock

    def key(self, client: str) -> str:
        return hmac.new(self.secret, b"ratelimit:" + client.encode(), hashlib.sha256).hexdigest()

    def allow(self, client: str) -> bool:
        now = self.clock()
        current = int(now // self.window)
        elapsed = (now - current * self.window) / self.window  # fraction of the current window gone
        key = self.key(client)
        table = RateLimitWindow.__table__
        with transaction(self.factory) as session:
            stmt = dialect_insert(session, RateLimitWindow).values(key=key, window=current, hits=1)
            hits = session.execute(stmt.on_conflict_do_update(
                index_elements=[table.c.key, table.c.window], set_={"hits": table.c.hits + 1},
            ).returning(table.c.hits)).scalar_one()
            previous = session.scalar(select(RateLimitWindow.hits).where(
                RateLimitWindow.key == key, RateLimitWindow.window == current - 1)) or 0
            if random.random() < _CLEANUP_CHANCE:
                session.execute(delete(RateLimitWindow).where(RateLimitWindow.window < current - 1))
        return hits + previous * (1.0 - elapsed) <= self.limit
