"""The local outbox: one RFC 5322 `.eml` file per delivery, written atomically."""

from __future__ import annotations

import os
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

from mailer.addresses import email_key
from mailer.errors import MailerError, SendPausedError
from mailer.transports.base import AccountLimits, OutgoingMessage

_HEAD_LIMIT = 256 * 1024  # the header block of a message we wrote is a few KB


class FileTransport:
    name = "file"
    paced = False  # no provider behind it: MAILER_SEND_RATE applies only when --rate is given

    def __init__(self, outbox: Path):
        self.outbox = outbox

    def clone(self) -> FileTransport:
        return FileTransport(self.outbox)  # safe in another process: temp files carry the pid

    def _path(self, batch: str, delivery_id: int) -> Path:
        return self.outbox / batch / f"{delivery_id:08d}.eml"

    def send(self, message: OutgoingMessage) -> str:
        path = self._path(message.batch, message.delivery_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".eml.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                fh.write(message.raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)  # the file appears whole or not at all
        except OSError as exc:
            # Never the message's fault: the outbox is missing, read-only or full. Failing each row
            # would fail the whole send; pausing keeps them queued until the outbox is fixed.
            raise SendPausedError(
                f"cannot write {path} ({exc.strerror}): check MAILER_OUTBOX "
                f"({self.outbox}), then run the send again"
            ) from exc
        return f"file:{path.name}"

    def was_sent(self, batch: str, delivery_id: int) -> bool | None:
        return self._path(batch, delivery_id).exists()

    def limits(self) -> AccountLimits | None:
        return None

    def describe(self, batch: str) -> str:
        return str(self.outbox / batch)

    def close(self) -> None:
        pass


def _recipients(path: Path) -> set[str]:
    """The email_keys of a message's To, Cc and Bcc addresses (its header block only)."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_LIMIT)
    end = min(
        (i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0), default=len(head)
    )
    headers = BytesHeaderParser(policy=default_policy).parsebytes(head[: end + 2])
    keys = set()
    for name in ("To", "Cc", "Bcc"):
        for value in headers.get_all(name, []):
            keys.update(
                email_key(a.addr_spec) for a in getattr(value, "addresses", ()) if a.addr_spec
            )
    return keys


def erase_recipient(outbox: Path, address: str) -> int:
    """Delete every message in the outbox addressed to this person (in any letter case): the issues
    sent to them and their confirmation mails. Returns how many files went."""
    if not outbox.is_dir():
        return 0
    key, removed = email_key(address), 0
    for path in sorted(outbox.rglob("*.eml")):
        try:
            if key in _recipients(path):
                path.unlink()
                removed += 1
        except OSError as exc:
            raise MailerError(
                f"cannot erase {path} from the outbox: {exc.strerror}; fix its permissions "
                "and run the erase again"
            ) from exc
    return removed
