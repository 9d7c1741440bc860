"""Subscriber imports from CSV: dialect, reader, preparation, batches, SQLite fast path
(ARCHITECTURE.md)."""
