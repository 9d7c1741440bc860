"""Audience: who gets mail; subscription lifecycle, suppressions, imports, erasure
(ARCHITECTURE.md)."""
