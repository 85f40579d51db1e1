"""Schema migrations, run in code: `upgrade(connection)` brings a database to this walkout's schema.

Alembic's scripts live in labeling/migrations (no alembic.ini). A database whose revision this walkout
does not know was written by a newer walkout: it is refused, never touched.

Several workstations may open a new (or older) shared database at once: `upgrade` migrates under a lock
(a transaction-scoped advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite, and a process lock because
Alembic's context is process-global) and looks at the revision again once it holds it, so one of them
migrates and the others find the work done.
"""
from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

MIGRATIONS = Path(__file__).with_name("migrations")
PG_LOCK_KEY = 0x77616C6B6F7574  # "walkout": the advisory lock that migrations of a PostgreSQL database hold
_PROCESS_LOCK = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    h = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert h is not None
    return h


def current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def known(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    return any(s.revision == revision for s in script.walk_revisions())


def upgrade(connection: Connection) -> str | None:
    """Bring the database to head, inside the caller's (write) transaction, unless someone else just did or
    its revision is unknown (newer): then leave it. The revision found once the lock was held."""
    with _PROCESS_LOCK:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
        rev = current(connection)
        if rev != head() and (rev is None or known(rev)):
            command.upgrade(alembic_config(connection), "head")
        return rev
