"""Alembic environment: uses the engine handed over by mailer.db, or DATABASE_URL / alembic.ini."""

import os

from alembic import context
from sqlalchemy import create_engine

from mailer.store.models import Base

config = context.config
target_metadata = Base.metadata


def _engine():
    engine = config.attributes.get("engine")
    if engine is not None:
        return engine
    from mailer.config import normalise_database_url

    url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    return create_engine(normalise_database_url(url))


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        # render_as_batch: SQLite cannot ALTER most things; batch mode recreates tables instead.
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
