"""The local outbox: one RFC 5322 `.eml` file per delivery, written atomically."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SendPausedError
from .base import AccountLimits, OutgoingMessage


class FileTransport:
    name = "file"
    paced = False  # no provider behind it: MAILER_SEND_RATE applies only when --rate is given

    def __init__(self, outbox: Path):
        self.outbox = outbox

    def clone(self) -> "FileTransport":
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
            raise SendPausedError(f"cannot write {path} ({exc.strerror}): check MAILER_OUTBOX "
                                  f"({self.outbox}), then run the send again") from exc
        return f"file:{path.name}"

    def was_sent(self, batch: str, delivery_id: int) -> bool | None:
        return self._path(batch, delivery_id).exists()

    def limits(self) -> AccountLimits | None:
        return None

    def describe(self, batch: str) -> str:
        return str(self.outbox / batch)

    def close(self) -> None:
        pass
