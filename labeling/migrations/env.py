"""Alembic environment: run by `labeling.migrate` with the connection to migrate in `config.attributes`.

There is no alembic.ini: `labeling.migrate.alembic_config` builds the configuration in code, so the
migrations ship inside the package and every database is upgraded when it is opened.
"""
from __future__ import annotations

from alembic import context

from labeling.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("labeling migrations run through labeling.migrate (open_db), not the alembic command")

context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
with context.begin_transaction():
    context.run_migrations()
