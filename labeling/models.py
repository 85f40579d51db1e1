"""The review database's tables (SQLAlchemy 2, typed).

What people query and change lives here: recordings, engine runs, visits with their receipt lines and the
load-cell events behind them, reviewers and their review sessions, every decision (a correction with its
before/after, so it can be undone) and an audit row for every write. Dense per-frame arrays stay in the
run's files on disk (design.md); the database only points at them.

Changing a table means a new migration in labeling/migrations/versions: `test_labeling.py` checks that the
migrations and these models describe the same schema.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, MetaData, String,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# stable constraint names, so that migrations (and SQLite batch migrations) can address them
NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "pk": "pk_%(table_name)s"}

ENGINE_STATUSES = ("auto", "review")
FINAL_STATUSES = ("pending", "confirmed", "corrected")
ORIGINS = ("engine", "reviewer")
CORRECTION_KINDS = ("change_line", "delete_line", "add_line", "no_event", "confirm")


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in UTC: stored naive (so SQLite compares it as text correctly), read back timezone-aware."""
    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the review database; use datetime.now(timezone.utc)")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Recording(Base):
    """A store recording (recording.md) as first ingested."""
    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # recording.json "id"
    path: Mapped[str] = mapped_column(String(1000))
    store: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[str] = mapped_column(String(40), default="")  # ISO 8601 as in recording.json
    duration_s: Mapped[float] = mapped_column(Float)
    ingested_at: Mapped[datetime]

    runs: Mapped[list[EngineRun]] = relationship(back_populates="recording")


class Product(Base):
    """A catalog product of a recording (name and price for lines a reviewer adds or changes)."""
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300), default="")
    price_cents: Mapped[int] = mapped_column(Integer)
    family: Mapped[str] = mapped_column(String(200), default="")
    image: Mapped[str | None] = mapped_column(String(1000))  # absolute path of its first catalog image
    __table_args__ = (UniqueConstraint("recording_id", "sku"),)


class EngineRun(Base):
    """An engine run directory (engine/run.py) whose receipts were ingested."""
    __tablename__ = "engine_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(1000), unique=True)
    engine_version: Mapped[str] = mapped_column(String(50))
    threshold: Mapped[float] = mapped_column(Float)
    ingested_at: Mapped[datetime]

    recording: Mapped[Recording] = relationship(back_populates="runs")


class Reviewer(Base):
    __tablename__ = "reviewers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class Visit(Base):
    """One shopper party's visit: the engine's receipt and verdict, and where review stands."""
    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("engine_runs.id"), index=True)
    key: Mapped[str] = mapped_column(String(100))  # the engine's visit id, v-0001
    account: Mapped[str | None] = mapped_column(String(200))
    entered_at: Mapped[float] = mapped_column(Float)
    exited_at: Mapped[float | None] = mapped_column(Float)
    engine_status: Mapped[str] = mapped_column(String(20))  # ENGINE_STATUSES
    engine_confidence: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[Any]] = mapped_column(default=list)  # why the engine held it, its order
    tracks: Mapped[list[Any]] = mapped_column(default=list)  # the party's engine track ids
    final_status: Mapped[str] = mapped_column(String(20), default="pending", index=True)  # FINAL_STATUSES
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id"))
    claimed_until: Mapped[datetime | None]

    recording: Mapped[Recording] = relationship()
    run: Mapped[EngineRun] = relationship()
    claimer: Mapped[Reviewer | None] = relationship()
    __table_args__ = (UniqueConstraint("recording_id", "key"),
                      Index("ix_visits_queue", "engine_status", "final_status", "entered_at"))


class VisitReason(Base):
    """One reason a visit is held, one row each, so the queue can filter by reason in SQL on any database."""
    __tablename__ = "visit_reasons"
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class ReceiptLine(Base):
    """A receipt line: the engine's, or one a reviewer added; never removed, only flagged deleted."""
    __tablename__ = "receipt_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(100))
    qty: Mapped[int] = mapped_column(Integer)
    price_cents: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float | None] = mapped_column(Float)  # None for a reviewer's line
    alternatives: Mapped[list[Any]] = mapped_column(default=list)  # [{"value", "score", "track"}] other products
    event_keys: Mapped[list[Any]] = mapped_column(default=list)  # the engine events it came from (e-0001, ...)
    t: Mapped[float | None] = mapped_column(Float)  # when a reviewer's missed item was taken
    origin: Mapped[str] = mapped_column(String(20), default="engine")  # ORIGINS
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class Event(Base):
    """A load-cell event of a run and the engine's reading of it (engine.evidence.Event), plus a reviewer's
    verdict that nothing happened there (`no_event`)."""
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("engine_runs.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))  # e-0001
    visit_key: Mapped[str | None] = mapped_column(String(100))  # the engine's shopper (visit id) or None
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    sensor: Mapped[str] = mapped_column(String(100))
    t0: Mapped[float] = mapped_column(Float)
    t1: Mapped[float] = mapped_column(Float)
    delta_g: Mapped[float] = mapped_column(Float)
    sd_g: Mapped[float] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(30))
    bin: Mapped[str | None] = mapped_column(String(100))
    sku: Mapped[str | None] = mapped_column(String(100))
    qty: Mapped[int] = mapped_column(Integer)
    track: Mapped[str | None] = mapped_column(String(100))
    hand: Mapped[str | None] = mapped_column(String(10))
    confidence: Mapped[float] = mapped_column(Float)
    shoppers: Mapped[list[Any]] = mapped_column(default=list)
    products: Mapped[list[Any]] = mapped_column(default=list)
    counts: Mapped[list[Any]] = mapped_column(default=list)
    hand_path: Mapped[list[Any]] = mapped_column(default=list)  # [[t, x, y, z], ...]
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    no_event: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (UniqueConstraint("run_id", "key"), Index("ix_events_run_t0", "run_id", "t0"))


class Review(Base):
    """One reviewer's session on one visit: from claim to confirm, release or lapse."""
    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))  # confirmed | corrected | released | lapsed


class Correction(Base):
    """One decision on one row, with the row's fields before and after, so it can be undone and redone."""
    __tablename__ = "corrections"
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    target_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))  # where a moved line went
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"))
    kind: Mapped[str] = mapped_column(String(30))  # CORRECTION_KINDS
    entity: Mapped[str] = mapped_column(String(30))  # line | event | visit
    entity_id: Mapped[int] = mapped_column(Integer)
    before: Mapped[dict[str, Any]] = mapped_column()
    after: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime]
    undone: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEntry(Base):
    """Every write to the database: who, when, what, on which rows. Only ever appended."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))  # a reviewer's name, or "ingest"
    action: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    visit_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no foreign key: the log outlives rows
    correction_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
