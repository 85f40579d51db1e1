"""Claims: one reviewer at a time on a visit, without a lock server.

A claim is a single conditional UPDATE (free, lapsed, or already mine), so two reviewers racing for one
visit cannot both win on any database; `claim_next` picks with SELECT ... FOR UPDATE SKIP LOCKED on
PostgreSQL so that reviewers asking at once get different visits instead of waiting on each other.
A claim lapses after `lapse_s` without a decision; each decision renews it.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from labeling.audit import audit
from labeling.models import Recording, Review, Visit, VisitReason


def claimable(rid: int, now: datetime):  # type: ignore[no-untyped-def]
    return or_(Visit.claimed_by.is_(None), Visit.claimed_until < now, Visit.claimed_by == rid)


def held(q: Select, reason: str | None, store: str | None, max_confidence: float | None) -> Select:
    """The queue's filter: held by the engine, not yet decided, and the reviewer's filters."""
    q = q.where(Visit.engine_status == "review", Visit.final_status == "pending")
    if reason is not None:
        q = q.where(Visit.id.in_(select(VisitReason.visit_id).where(VisitReason.reason == reason)))
    if store is not None:
        q = q.where(Recording.store == store)
    if max_confidence is not None:
        q = q.where(Visit.engine_confidence <= max_confidence)
    return q.order_by(Recording.started_at, Recording.id, Visit.entered_at, Visit.id)


def claim(s: Session, v: Visit, rid: int, actor: str, now: datetime, lapse_s: float) -> bool:
    res = s.execute(update(Visit)
                    .where(Visit.id == v.id, Visit.final_status == "pending", claimable(rid, now))
                    .values(claimed_by=rid, claimed_until=now + timedelta(seconds=lapse_s))
                    .execution_options(synchronize_session=False))
    if res.rowcount != 1:
        return False
    s.expire(v)
    open_review(s, v.id, rid, now)
    audit(s, now, actor, "claim", "visit", v.id, v.id, detail={"until": (now + timedelta(seconds=lapse_s)).isoformat()})
    return True


def claim_next(s: Session, rid: int, actor: str, now: datetime, lapse_s: float, reason: str | None,
               store: str | None, max_confidence: float | None) -> Visit | None:
    """Claim the oldest claimable visit that no other transaction has locked right now.

    One row is locked at a time (LIMIT 1 ... FOR UPDATE SKIP LOCKED): locking several would keep those
    from reviewers asking at the same moment, who would get a later visit, or None while visits are free.
    On SQLite the locking clause is ignored; BEGIN IMMEDIATE has already serialized the writers.
    """
    q = held(select(Visit.id).join(Recording, Visit.recording_id == Recording.id), reason, store, max_confidence)
    q = q.where(claimable(rid, now))
    tried: list[int] = []
    while True:
        pick = q.where(Visit.id.not_in(tried)) if tried else q
        vid = s.scalar(pick.limit(1).with_for_update(skip_locked=True, of=Visit))
        if vid is None:
            return None
        v = s.get(Visit, vid)
        if v is not None and claim(s, v, rid, actor, now, lapse_s):
            return v
        tried.append(vid)  # taken meanwhile (it cannot be, once locked; but never loop on it)


def release(s: Session, v: Visit, rid: int, actor: str, now: datetime) -> bool:
    res = s.execute(update(Visit).where(Visit.id == v.id, Visit.claimed_by == rid)
                    .values(claimed_by=None, claimed_until=None).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        return False
    s.expire(v)
    finish_reviews(s, v.id, now, "released", rid)
    audit(s, now, actor, "release", "visit", v.id, v.id)
    return True


def open_review(s: Session, visit_id: int, rid: int, now: datetime) -> Review:
    """The reviewer's open session on the visit, started now if none; others' open sessions lapsed."""
    mine = None
    for r in s.scalars(select(Review).where(Review.visit_id == visit_id, Review.finished_at.is_(None))):
        if r.reviewer_id == rid:
            mine = r
        else:
            r.finished_at, r.outcome = now, "lapsed"
    if mine is None:
        mine = Review(visit_id=visit_id, reviewer_id=rid, started_at=now)
        s.add(mine)
        s.flush()
    return mine


def finish_reviews(s: Session, visit_id: int, now: datetime, outcome: str, rid: int | None = None) -> None:
    q = select(Review).where(Review.visit_id == visit_id, Review.finished_at.is_(None))
    if rid is not None:
        q = q.where(Review.reviewer_id == rid)
    for r in s.scalars(q):
        r.finished_at, r.outcome = now, outcome
