"""A per-client limit for the subscribe form, shared by every web worker through the database.

An in-memory limit would be per gunicorn process (N workers: N times the limit, and more again with
several machines). Here each client has a row per fixed window holding its hits, incremented with
one atomic upsert, so concurrent workers can never both take the last slot. The decision uses a
sliding estimate: this window's hits plus the previous window's, weighted by how much of it still
lies inside the last `window` seconds. Requests over the limit count too, so a client hammering the
form stays limited until it slows down.

Clients are keyed by an HMAC of their IP address with the secret key: the table holds no addresses.
An IPv6 client counts by its /64: one home or one server gets a whole /64 and can pick any address
in it, so keying by the full address would give an attacker 2**64 fresh limits.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import random
import time

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.db import transaction
from mailer.store.models import RateLimitWindow
from mailer.store.queries import dialect_insert

_CLEANUP_CHANCE = 1 / 50  # now and then, forget windows that no decision reads any more


IPV6_PREFIX = 64


def client_network(client: str) -> str:
    """What one client is for the limit: an IPv4 address, or the /64 of an IPv6 one (IPv4-mapped
    IPv6 addresses count as their IPv4 address). Anything else (a unix socket's '?') is kept as it
    is."""
    try:
        address = ipaddress.ip_address(
            client.split("%", 1)[0]
        )  # a zone id (fe80::1%eth0) names no client
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


class RateLimiter:
    def __init__(
        self,
        factory: sessionmaker[Session],
        secret_key: str,
        limit: int,
        window: float,
        clock=time.time,
    ):
        if limit < 1 or window <= 0:
            raise ValueError(
                f"rate limit must be at least 1 per positive window, not {limit} per {window}"
            )
        self.factory = factory
        self.secret = secret_key.encode()
        self.limit = limit
        self.window = window
        self.clock = clock

    def key(self, client: str) -> str:
        network = client_network(client).encode()
        return hmac.new(self.secret, b"ratelimit:" + network, hashlib.sha256).hexdigest()

    def allow(self, client: str, session: Session | None = None) -> bool:
        """Count a hit and say whether it is within the limit: in the caller's transaction when a
        session is given (the hit is committed with the caller's work), else in one of its own."""
        if session is not None:
            return self._hit(session, client)
        with transaction(self.factory) as own:
            return self._hit(own, client)

    def _hit(self, session: Session, client: str) -> bool:
        now = self.clock()
        current = int(now // self.window)
        elapsed = (now - current * self.window) / self.window  # fraction of the current window gone
        key = self.key(client)
        table = RateLimitWindow.__table__
        stmt = dialect_insert(session, RateLimitWindow).values(key=key, window=current, hits=1)
        hits = session.execute(
            stmt.on_conflict_do_update(
                index_elements=[table.c.key, table.c.window],
                set_={"hits": table.c.hits + 1},
            ).returning(table.c.hits)
        ).scalar_one()
        previous = (
            session.scalar(
                select(RateLimitWindow.hits).where(
                    RateLimitWindow.key == key, RateLimitWindow.window == current - 1
                )
            )
            or 0
        )
        if random.random() < _CLEANUP_CHANCE:
            session.execute(delete(RateLimitWindow).where(RateLimitWindow.window < current - 1))
        return hits + previous * (1.0 - elapsed) <= self.limit
