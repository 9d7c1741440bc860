"""What one check found: a `Check` (name, ok | warn | fail, what was seen, the one-line fix).

A check that could not look because an earlier one failed says so as a warning ("not checked:
..."), so that one broken piece fails one check (ARCHITECTURE.md, "The doctor").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but something will hurt (p=none, the sandbox's neighbours), or unknown
    FAIL = "fail"  # mail will not go out, or go out unauthenticated, or its events will be lost


@dataclass(frozen=True)
class Check:
    name: str  # `group.what`, e.g. events.queue_policy; a domain's checks end in `:<domain>`
    status: Status
    detail: str  # what was found, one line
    fix: str = ""  # the AWS CLI command, console path or DNS record that makes it ok

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": str(self.status),
            "detail": self.detail,
            "fix": self.fix,
        }

    @property
    def failed(self) -> bool:
        return self.status == Status.FAIL


def ok(name: str, detail: str) -> Check:
    return Check(name, Status.OK, detail)


def warn(name: str, detail: str, fix: str = "") -> Check:
    return Check(name, Status.WARN, detail, fix)


def fail(name: str, detail: str, fix: str) -> Check:
    return Check(name, Status.FAIL, detail, fix)


def not_checked(name: str, because: str) -> Check:
    """A check that depends on one that failed: a warning naming that one, never a second fail."""
    return Check(name, Status.WARN, f"not checked: {because}")


def one_line(text: object) -> str:
    """A provider's message as one line (botocore and HTML error pages carry line breaks)."""
    return " ".join(str(text).split())
