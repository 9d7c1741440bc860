"""What an events row keeps about the person it is about, below both stages that need it: track
stores events (dedup key, raw JSON), audience erases a person from them (ARCHITECTURE.md, "Layers
and rules": arrows point down, so what two stages share lives below both)."""

from __future__ import annotations

import hashlib

from mailer.addresses import address_hash

# What events.raw holds once the person the event is about was erased (the SES JSON names them).
ERASED_RAW = '{"erased": true}'
DEDUP_KEY_MAX = 300  # events.dedup_key's length; a longer key is stored as its SHA-256


def stored_dedup_key(scope: str, event_type: str, recipient: str | None, salt: str) -> str:
    """What events.dedup_key holds: the event's identity (`scope`, kind:ident) and the recipient as
    its salted hash (as a suppression keeps it), so that the key names nobody and an erased person's
    events still deduplicate. (Migration 0004 rewrote older keys, which held the address, the same
    way.)"""
    key = f"{scope}:{address_hash(recipient, salt) if recipient else '-'}"
    if len(key) > DEDUP_KEY_MAX:
        key = f"{event_type[:32]}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return key
