"""Reviewers' decisions: each one changes one row, renews the reviewer's claim, and writes a correction
(the row's fields before and after) and an audit row, all in the caller's single transaction.

Undo and redo put a correction's `before` or `after` back, and refuse when the row has changed since (a
later decision must be undone first), so the workstation's undo stack can never silently clobber work.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from labeling.audit import audit
from labeling.claims import claimable, finish_reviews, open_review
from labeling.errors import DecisionError
from labeling.lookup import find_product, reviewer_name, visit_key
from labeling.models import Correction, Event, ReceiptLine, Review, Visit


@dataclass(frozen=True)
class Who:
    """The reviewer taking a decision, and when."""
    rid: int
    name: str
    now: datetime
    lapse_s: float


def hold(s: Session, v: Visit, who: Who) -> Review:
    """Make sure the visit is undecided and this reviewer's (claiming it if free); their open review session."""
    key = visit_key(v.recording, v)
    if v.final_status != "pending":
        raise DecisionError(f"visit {key}: already {v.final_status}; undo its confirmation first")
    res = s.execute(update(Visit).where(Visit.id == v.id, Visit.final_status == "pending",
                                        claimable(who.rid, who.now))
                    .values(claimed_by=who.rid, claimed_until=who.now + timedelta(seconds=who.lapse_s))
                    .execution_options(synchronize_session=False))
    s.expire(v)
    if res.rowcount != 1:
        until = v.claimed_until.isoformat(timespec="seconds") if v.claimed_until else "?"
        raise DecisionError(f"visit {key}: claimed by {reviewer_name(s, v.claimed_by)} until {until}")
    return open_review(s, v.id, who.rid, who.now)


def _record(s: Session, who: Who, kind: str, entity: str, entity_id: int, before: dict[str, Any],
            after: dict[str, Any], visit: Visit | None, review: Review | None, target: Visit | None = None) -> int:
    c = Correction(visit_id=visit.id if visit else None, target_visit_id=target.id if target else None,
                   review_id=review.id if review else None, reviewer_id=who.rid, kind=kind, entity=entity,
                   entity_id=entity_id, before=before, after=after, created_at=who.now, undone=False)
    s.add(c)
    s.flush()
    audit(s, who.now, who.name, kind, entity, entity_id, visit.id if visit else None, c.id,
          detail={"before": before, "after": after, **({"to_visit": target.id} if target else {})})
    return c.id


def _next_position(s: Session, visit_id: int) -> int:
    p = s.scalar(select(func.max(ReceiptLine.position)).where(ReceiptLine.visit_id == visit_id))
    return 0 if p is None else int(p) + 1


def _qty(qty: Any) -> int:
    if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
        raise DecisionError(f"qty must be a whole number >= 1 (delete the line to charge none), got {qty!r}")
    return qty


def change_line(s: Session, line: ReceiptLine, who: Who, sku: str | None = None, qty: int | None = None,
                to_visit: Visit | None = None) -> int:
    v = s.get(Visit, line.visit_id)
    assert v is not None
    if line.deleted:
        raise DecisionError(f"receipt line {line.id} of visit {visit_key(v.recording, v)} is deleted; undo that first")
    review = hold(s, v, who)
    after: dict[str, Any] = {}
    if sku is not None and sku != line.sku:
        p = find_product(s, v.recording, sku)
        after.update(sku=p.sku, price_cents=p.price_cents)
    if qty is not None and _qty(qty) != line.qty:
        after["qty"] = qty
    target = None
    if to_visit is not None and to_visit.id != v.id:
        if to_visit.recording_id != v.recording_id:
            raise DecisionError(f"receipt line {line.id}: cannot move to visit {visit_key(to_visit.recording, to_visit)}"
                                f" of another recording")
        hold(s, to_visit, who)
        target = to_visit
        after.update(visit_id=to_visit.id, position=_next_position(s, to_visit.id))
    if not after:
        raise DecisionError(f"receipt line {line.id}: nothing to change")
    before = {k: getattr(line, k) for k in after}
    for k, val in after.items():
        setattr(line, k, val)
    return _record(s, who, "change_line", "line", line.id, before, after, v, review, target)


def delete_line(s: Session, line: ReceiptLine, who: Who) -> int:
    v = s.get(Visit, line.visit_id)
    assert v is not None
    review = hold(s, v, who)
    if line.deleted:
        raise DecisionError(f"receipt line {line.id}: already deleted")
    line.deleted = True
    return _record(s, who, "delete_line", "line", line.id, {"deleted": False}, {"deleted": True}, v, review)


def add_line(s: Session, v: Visit, sku: str, qty: int, t: float, who: Who) -> int:
    review = hold(s, v, who)
    p = find_product(s, v.recording, sku)
    dur = v.recording.duration_s
    if not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0 or (dur > 0 and t > dur):
        raise DecisionError(f"t must be a time in the recording (0 to {dur:g} s), got {t!r}")
    line = ReceiptLine(visit_id=v.id, position=_next_position(s, v.id), sku=p.sku, qty=_qty(qty),
                       price_cents=p.price_cents, confidence=None, alternatives=[], event_keys=[], t=float(t),
                       origin="reviewer", deleted=False)
    s.add(line)
    s.flush()
    return _record(s, who, "add_line", "line", line.id, {"deleted": True}, {"deleted": False}, v, review)


def mark_no_event(s: Session, e: Event, who: Who, no_event: bool = True) -> int:
    v = s.get(Visit, e.visit_id) if e.visit_id is not None else None
    review = hold(s, v, who) if v is not None else None
    if e.no_event == no_event:
        raise DecisionError(f"event {e.key}: already marked {'no event' if no_event else 'an event'}")
    e.no_event = no_event
    return _record(s, who, "no_event", "event", e.id, {"no_event": not no_event}, {"no_event": no_event}, v, review)


def was_corrected(s: Session, v: Visit) -> bool:
    n = s.scalar(select(func.count()).select_from(Correction).where(
        (Correction.visit_id == v.id) | (Correction.target_visit_id == v.id),
        Correction.kind != "confirm", Correction.undone.is_(False)))
    return bool(n)


def confirm(s: Session, v: Visit, who: Who) -> int:
    review = hold(s, v, who)
    status = "corrected" if was_corrected(s, v) else "confirmed"
    v.final_status = status
    v.claimed_by, v.claimed_until = None, None
    finish_reviews(s, v.id, who.now, status)
    return _record(s, who, "confirm", "visit", v.id, {"final_status": "pending"}, {"final_status": status}, v, review)


def undo(s: Session, c: Correction, who: Who) -> None:
    if c.undone:
        raise DecisionError(f"correction {c.id}: already undone")
    _swap(s, c, who, c.after, c.before)
    c.undone = True
    audit(s, who.now, who.name, "undo", c.entity, c.entity_id, c.visit_id, c.id, detail={"kind": c.kind})


def redo(s: Session, c: Correction, who: Who) -> None:
    if not c.undone:
        raise DecisionError(f"correction {c.id}: not undone, nothing to redo")
    _swap(s, c, who, c.before, c.after)
    c.undone = False
    audit(s, who.now, who.name, "redo", c.entity, c.entity_id, c.visit_id, c.id, detail={"kind": c.kind})


def _swap(s: Session, c: Correction, who: Who, current: dict[str, Any], to: dict[str, Any]) -> None:
    if c.kind == "confirm":
        v = s.get(Visit, c.entity_id)
        assert v is not None
        if to["final_status"] == "pending":  # undo a confirmation: the visit is open again, for the undoer
            if v.final_status == "pending":
                raise DecisionError(f"visit {visit_key(v.recording, v)}: not confirmed any more")
            v.final_status = "pending"
            s.flush()
            hold(s, v, who)
        else:  # redo it: confirmed or corrected as the visit stands now
            hold(s, v, who)
            status = "corrected" if was_corrected(s, v) else "confirmed"
            v.final_status = status
            v.claimed_by, v.claimed_until = None, None
            finish_reviews(s, v.id, who.now, status)
            c.after = {"final_status": status}
        return
    row: ReceiptLine | Event | None = s.get(ReceiptLine if c.entity == "line" else Event, c.entity_id)
    if row is None:
        raise DecisionError(f"correction {c.id}: its {c.entity} {c.entity_id} is gone")
    for vid in (c.visit_id, c.target_visit_id):
        if vid is not None:
            v = s.get(Visit, vid)
            assert v is not None
            hold(s, v, who)
    now_vals = {k: getattr(row, k) for k in current}
    if now_vals != current:
        raise DecisionError(f"{c.entity} {c.entity_id} changed after correction {c.id}: "
                            f"undo the later decisions first")
    for k, val in to.items():
        setattr(row, k, val)
