"""Who holds a claimed ledger row, and whether they still can (ARCHITECTURE.md: "The ledger").

A worker is one run of one process, named host:pid:nonce (the rows it claims carry the name in
claimed_by). Its rows are taken from it only when it is gone: a process on this host that no longer
runs, or a worker anywhere that has not renewed its lease (the heartbeat) for the lease's length.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path

HOST_NAME_CHARS = 60  # claimed_by holds 100 characters: the host name's part of it


def worker_name() -> str:
    """host:pid:nonce, unique per run (claimed_by)."""
    return f"{socket.gethostname()[:HOST_NAME_CHARS]}:{os.getpid()}:{os.urandom(3).hex()}"


def worker_is_dead(claimed_by: str) -> bool:
    """True when `claimed_by` names a process on this host that no longer runs; other hosts' workers
    are judged by their lease only."""
    host, _, rest = claimed_by.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname()[:HOST_NAME_CHARS] or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():  # an earlier run in this process: every run settles its rows on return
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A zombie (killed, not yet reaped) is dead too (Linux /proc; elsewhere: alive)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def claim_is_abandoned(
    claimed_by: str | None,
    claimed_at: dt.datetime | None,
    lease: dt.timedelta,
    now: dt.datetime,
    is_dead=worker_is_dead,
) -> bool:
    """Whether a row's claim is its worker's no longer: known dead (same host, process gone), silent
    for a lease, or never named. A live worker renews its lease, so its rows are never taken."""
    if claimed_at is not None and claimed_at.tzinfo is None:  # SQLite: naive, stored as UTC
        claimed_at = claimed_at.replace(tzinfo=dt.UTC)
    return claimed_at is None or claimed_at < now - lease or not claimed_by or is_dead(claimed_by)
