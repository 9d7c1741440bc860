"""Transports share one interface: hand over one message, return the provider's message id,
or raise a TransportError subclass saying what the ledger should do (see mailer.errors)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .config import Settings
from .errors import ConfigError, PermanentError


@dataclass(frozen=True)
class OutgoingMessage:
    delivery_id: int
    send_id: int
    recipient: str
    raw: bytes
    batch: str  # where related messages belong, e.g. "ai-morning-post/2026-11-22"
    tags: dict[str, str] = field(default_factory=dict)


class Transport(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> str:
        """Deliver one message; return the provider's message id."""

    def was_sent(self, batch: str, delivery_id: int) -> bool | None:
        """After a crash: True/False when the transport can tell, None when it cannot."""

    def describe(self, batch: str) -> str:
        """Where messages of this batch went, for the summary line."""

    def close(self) -> None: ...


class FileTransport:
    """RFC 5322 `.eml` files in an outbox: one per delivery, written atomically."""

    name = "file"

    def __init__(self, outbox: Path):
        self.outbox = outbox

    def _path(self, batch: str, delivery_id: int) -> Path:
        return self.outbox / batch / f"{delivery_id:08d}.eml"

    def send(self, message: OutgoingMessage) -> str:
        path = self._path(message.batch, message.delivery_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".eml.tmp")
            with open(tmp, "wb") as fh:
                fh.write(message.raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)  # the file appears whole or not at all
        except OSError as exc:
            raise PermanentError(f"cannot write {path}: {exc.strerror}") from exc
        return f"file:{path.name}"

    def was_sent(self, batch: str, delivery_id: int) -> bool | None:
        return self._path(batch, delivery_id).exists()

    def describe(self, batch: str) -> str:
        return str(self.outbox / batch)

    def close(self) -> None:
        pass


def make_transport(settings: Settings) -> Transport:
    if settings.transport == "file":
        return FileTransport(settings.outbox_dir)
    raise ConfigError(f"MAILER_TRANSPORT={settings.transport!r} is not available in this version; use 'file'")
