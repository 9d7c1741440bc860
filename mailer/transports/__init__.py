"""Transports share one interface (base.Transport): `file` (the local outbox, the default), `ses`
(Amazon SES v2 SendEmail with raw MIME) and `smtp` (any SMTP server, SES's SMTP interface included).
"""

from __future__ import annotations

from mailer.config import Settings
from mailer.transports.base import AccountLimits, OutgoingMessage, Transport
from mailer.transports.file import FileTransport

__all__ = ["AccountLimits", "FileTransport", "OutgoingMessage", "Transport", "make_transport"]


def make_transport(settings: Settings, pool_size: int = 10) -> Transport:
    """The configured transport. `pool_size` is the number of calls the send loop keeps in
    flight."""
    if settings.transport == "file":
        return FileTransport(settings.outbox_dir)
    if settings.transport == "ses":
        from mailer.transports.ses import SesTransport

        return SesTransport(
            configuration_set=settings.ses_configuration_set,
            endpoint_url=settings.ses_endpoint_url,
            pool_size=pool_size,
            read_timeout=settings.send_timeout,
        )
    from mailer.transports.smtp import SmtpTransport

    return SmtpTransport.from_settings(settings)
