"""How an issue greets its reader: by first name, or not by name at all (ARCHITECTURE.md: "Stages").

The send greets every recipient with it and the preview its sample reader, so that both read alike.
"""

from __future__ import annotations

FIRST_NAME_LIMIT = 40  # a longer "first name" is not one; the greeting line stays within 78 columns


def first_name(cleaned: str) -> str:
    """The name a greeting uses, from a cleaned display name: "Hedy" from "Hedy Lamarr" and from
    "Lamarr, Hedy", "Cher" from "Cher"; "" when there is none to greet by (empty, "Lamarr,", an
    address, one word too long). Plain string operations: this runs once per recipient of a send."""
    if "@" in cleaned:
        return ""
    if "," in cleaned:
        cleaned = cleaned.partition(",")[2]
    words = cleaned.split(None, 1)
    return words[0] if words and len(words[0]) <= FIRST_NAME_LIMIT else ""


def greeting_for(cleaned: str) -> str:
    """The greeting line of a reader with this cleaned display name."""
    first = first_name(cleaned)
    return f"Good morning, {first}" if first else "Good morning"
