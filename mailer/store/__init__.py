"""Store: the database engine, the schema as models, and the queries several stages share
(ARCHITECTURE.md)."""
