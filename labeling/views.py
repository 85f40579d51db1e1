"""What the review database hands out: plain dataclasses, detached from any session (safe across threads)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from engine.evidence import Alternative


@dataclass(frozen=True)
class QueueItem:
    """A held visit waiting for a person."""
    key: str  # "<recording>/<visit>": what every ReviewDB call takes
    id: int
    recording: str
    visit: str  # the engine's id, v-0001
    store: str
    account: str | None
    entered_at: float
    exited_at: float | None
    confidence: float
    reasons: list[str]
    lines: int
    claimed_by: str | None  # None when unclaimed or the claim lapsed
    claimed_until: datetime | None


@dataclass(frozen=True)
class VisitInfo:
    key: str
    id: int
    recording: str
    visit: str
    store: str
    account: str | None
    entered_at: float
    exited_at: float | None
    engine_status: str  # auto | review
    engine_confidence: float
    reasons: list[str]
    tracks: list[str]
    final_status: str  # pending | confirmed | corrected
    claimed_by: str | None
    claimed_until: datetime | None


@dataclass(frozen=True)
class LineView:
    id: int
    position: int
    sku: str
    qty: int
    price_cents: int
    confidence: float | None  # None for a line a reviewer added
    alternatives: list[Alternative]  # other products this line could be, best first
    events: list[str]  # keys of the engine events it came from
    t: float | None  # when a reviewer's missed item was taken
    origin: str  # engine | reviewer
    deleted: bool


@dataclass(frozen=True)
class EventView:
    """engine.evidence.Event as stored, with its database id and the reviewer's `no_event` verdict."""
    id: int
    key: str
    sensor: str
    t0: float
    t1: float
    delta_g: float
    sd_g: float
    kind: str
    bin: str | None
    sku: str | None
    qty: int
    visit: str | None  # the engine's shopper (visit id)
    track: str | None
    hand: str | None
    confidence: float
    shoppers: list[Alternative]
    products: list[Alternative]
    counts: list[Alternative]
    hand_path: list[list[float]]
    reasons: list[str]
    no_event: bool


@dataclass(frozen=True)
class ProductView:
    sku: str
    name: str
    price_cents: int
    family: str
    image: Path | None


@dataclass(frozen=True)
class VisitView:
    """Everything the workstation shows for one visit."""
    visit: VisitInfo
    lines: list[LineView]  # deleted ones included (flagged), by position
    events: list[EventView]  # the visit's events, events naming it as an alternative, unexplained ones in its time
    recording_path: Path
    run_path: Path
    products: dict[str, ProductView] = field(default_factory=dict)  # every sku named by lines and events

    @property
    def live_lines(self) -> list[LineView]:
        return [ln for ln in self.lines if not ln.deleted]


@dataclass(frozen=True)
class CorrectionView:
    id: int
    kind: str
    entity: str  # line | event | visit
    entity_id: int
    visit: str | None
    target_visit: str | None
    reviewer: str
    before: dict[str, Any]
    after: dict[str, Any]
    created_at: datetime
    undone: bool


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: int | None
    visit_id: int | None
    correction_id: int | None
    detail: dict[str, Any]
