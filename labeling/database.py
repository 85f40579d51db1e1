"""Where the review database lives and how connections to it are made.

The default is one SQLite file per user (`$XDG_DATA_HOME/walkout/review.db`, else
`~/.local/share/walkout/review.db`); any SQLAlchemy URL (PostgreSQL for a team) works too. SQLite runs in
WAL mode (readers never wait for a writer) with a busy timeout and foreign keys on, and every write
transaction starts with BEGIN IMMEDIATE: two reviewers' writes queue up instead of failing half-way when
one's read snapshot went stale.
"""
from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from labeling.errors import DatabaseError

BUSY_TIMEOUT_S = 30.0


def default_db_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "walkout" / "review.db"


def default_url() -> str:
    return f"sqlite:///{default_db_path()}"


def resolve_url(url: str | os.PathLike | None) -> str:
    """A SQLAlchemy URL from None (the default file), a URL, or a plain file path (taken as SQLite)."""
    if url is None:
        return default_url()
    s = str(url)
    if "://" not in s:
        return f"sqlite:///{Path(s).expanduser().resolve()}"
    return s


def describe(url: str) -> str:
    """The URL as shown in messages: the file for SQLite, the URL without its password otherwise."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return u.database or ":memory:"
    return u.render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    try:
        u = make_url(url)
    except ArgumentError as e:
        raise DatabaseError(f"{url}: not a database URL ({e})") from None
    if u.get_backend_name() != "sqlite":
        try:
            return create_engine(u, pool_pre_ping=True)
        except (ArgumentError, ImportError) as e:
            raise DatabaseError(f"{describe(url)}: cannot use this database ({e})") from None
    if u.database and u.database != ":memory:":
        path = Path(u.database)
        if path.is_dir():
            raise DatabaseError(f"{path}: is a directory, not a database file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DatabaseError(f"{path}: cannot create its folder ({e.strerror})") from None
    engine = create_engine(u, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})
    _sqlite_setup(engine)
    return engine


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")  # a decision survives a power cut too, not only a crash
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")
