"""Ingest: an engine run's receipts and evidence into the review database.

Idempotent: a run already ingested adds nothing. A later run of the same recording replaces the visits
nobody has touched yet (no claim, review or decision) and leaves every touched visit as the reviewer has it.
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from data.errors import RecordingError
from data.recording import read_manifest
from data.store import read_store_dir
from engine.evidence import Evidence, load_evidence
from engine.run import RunError, load_run
from labeling.audit import audit
from labeling.models import (Correction, EngineRun, Event, Product, ReceiptLine, Recording, Review, Visit,
                             VisitReason)


def ingest_run(s: Session, run_dir: Path, now: datetime, actor: str = "ingest") -> list[str]:
    """Add a run's visits and events; return the keys ("<recording>/<visit>") of the visits added or replaced.

    A run ingested before and processed again into the same folder is read again: its visits and events that
    nobody has touched take the new run's word (else the workstation would show the old receipts beside the new
    skeletons), and its untouched visits the new run no longer has go; what a person claimed, reviewed,
    corrected or marked stays as it is."""
    run_dir = Path(run_dir).resolve()
    run = load_run(run_dir)  # RunError: missing, broken, or a format this walkout does not read
    ev = load_evidence(run_dir)
    m = run.manifest
    rec_key = str(m.get("recording") or ev.recording)
    if ev.recording and ev.recording != rec_key:
        raise RunError(f"{run_dir / 'receipts.json'}: recording {ev.recording!r}, but run.json says {rec_key!r}")
    for v in ev.visits:
        if v.status not in ("auto", "review"):
            raise RunError(f"{run_dir / 'receipts.json'}: visit {v.visit}: status {v.status!r}; an engine run "
                           f"has 'auto' or 'review'")
    rec = s.scalar(select(Recording).where(Recording.key == rec_key))
    if rec is None:
        rec = _add_recording(s, rec_key, Path(str(m.get("recording_path", ""))), float(m.get("duration_s", 0.0)),
                             now, actor)
    _add_missing_products(s, rec, ev)
    row = s.scalar(select(EngineRun).where(EngineRun.path == str(run_dir)))
    if row is None:
        row = EngineRun(recording_id=rec.id, path=str(run_dir), engine_version=str(m.get("engine", "")),
                        threshold=ev.threshold, ingested_at=now)
        s.add(row)
        s.flush()
        audit(s, now, actor, "ingest_run", "run", row.id, detail={"path": str(run_dir), "recording": rec_key})
    elif row.recording_id != rec.id:
        raise RunError(f"{run_dir}: was ingested as a run of another recording")
    existing = {v.key: v for v in s.scalars(select(Visit).where(Visit.recording_id == rec.id))}
    line_ev = {(le.visit, le.line): le for le in ev.line_evidence}
    added: list[str] = []
    mine: dict[str, int] = {}  # visit id in the evidence -> database id, for visits that now come from this run
    kept: set[int] = set()  # database ids of visits a person touched: they and their events stay as they are
    for v in ev.visits:
        old = existing.get(v.visit)
        if old is not None:
            if _touched(s, old):
                kept.add(old.id)
                if old.run_id == row.id:
                    mine[v.visit] = old.id
                continue
            if old.run_id == row.id and _unchanged(s, old, v):
                mine[v.visit] = old.id
                continue
            # another run's visit, or this run's processed again into the same folder: the engine's new word
            _clear_engine_word(s, old.id)
            action = "refresh_visit" if old.run_id == row.id else "replace_visit"
            visit = old
        else:
            visit = Visit(recording_id=rec.id, key=v.visit)
            s.add(visit)
            action = "ingest_visit"
        visit.run_id = row.id
        visit.account = v.account
        visit.entered_at = v.entered_at
        visit.exited_at = v.exited_at
        visit.engine_status = v.status
        visit.engine_confidence = v.confidence
        visit.reasons = list(v.reasons)
        visit.tracks = list(v.tracks)
        visit.final_status = "pending"
        s.flush()
        for reason in dict.fromkeys(v.reasons):
            s.add(VisitReason(visit_id=visit.id, reason=reason))
        for i, ln in enumerate(v.lines):
            le = line_ev.get((v.visit, i))
            s.add(ReceiptLine(visit_id=visit.id, position=i, sku=ln.sku, qty=ln.qty, price_cents=ln.price_cents,
                              confidence=ln.confidence, origin="engine", deleted=False,
                              alternatives=[asdict(a) for a in le.alternatives] if le else [],
                              event_keys=list(le.events) if le else []))
        mine[v.visit] = visit.id
        key = f"{rec.key}/{v.visit}"
        added.append(key)
        audit(s, now, actor, action, "visit", visit.id, visit.id, detail={"key": key, "run": str(run_dir)})
    _drop_vanished(s, row, existing, {v.visit for v in ev.visits}, now, actor)
    have = {e.key: e for e in s.scalars(select(Event).where(Event.run_id == row.id))}
    new_keys = {e.id for e in ev.events}
    refreshed = 0
    for key, old_e in have.items():  # a run processed again into its folder: events it no longer has go
        if key not in new_keys and not _event_kept(s, old_e, kept):
            s.delete(old_e)
            refreshed += 1
    for e in ev.events:
        d = asdict(e)
        d["key"] = d.pop("id")
        d["visit_key"] = d.pop("visit")
        old_e = have.get(e.id)
        if old_e is None:
            s.add(Event(run_id=row.id, visit_id=mine.get(e.visit) if e.visit else None, **d))
        elif any(getattr(old_e, k) != val for k, val in d.items()) and not _event_kept(s, old_e, kept):
            for k, val in d.items():
                setattr(old_e, k, val)
            old_e.visit_id = mine.get(e.visit) if e.visit else None
            refreshed += 1
    if refreshed:
        audit(s, now, actor, "refresh_events", "run", row.id, detail={"path": str(run_dir), "events": refreshed})
    # events of this run for visits it (re)took over, and visits re-linked above
    for vk, vid in mine.items():
        s.execute(update(Event).where(Event.run_id == row.id, Event.visit_key == vk).values(visit_id=vid))
    s.flush()
    return added


def _drop_vanished(s: Session, row: EngineRun, existing: dict[str, Visit], keys: set[str], now: datetime,
                   actor: str) -> None:
    """A run processed again into its folder that no longer has one of its visits (the tracker now joins two
    tracks, say): the stale visit goes unless a person touched it, so the queue never offers a receipt the
    engine has taken back. Its events stay for the event pass to refresh or drop."""
    for key, old in existing.items():
        if key in keys or old.run_id != row.id or _touched(s, old):
            continue
        _clear_engine_word(s, old.id)
        audit(s, now, actor, "drop_visit", "visit", old.id, old.id,
              detail={"key": f"{old.recording.key}/{key}", "run": row.path})
        s.delete(old)


def _clear_engine_word(s: Session, visit_id: int) -> None:
    """An untouched visit's receipt lines and reasons go and its events are unlinked, before a run's new word
    replaces them or the visit itself goes."""
    s.execute(delete(ReceiptLine).where(ReceiptLine.visit_id == visit_id))
    s.execute(delete(VisitReason).where(VisitReason.visit_id == visit_id))
    s.execute(update(Event).where(Event.visit_id == visit_id).values(visit_id=None))


def _unchanged(s: Session, old: Visit, v) -> bool:  # noqa: ANN001 (engine.evidence's visit)
    """Does the stored visit say what the run's receipt says (status, confidence, reasons, tracks, lines)?"""
    if (old.account, old.engine_status, old.engine_confidence, list(old.reasons), list(old.tracks)) != \
            (v.account, v.status, v.confidence, list(v.reasons), list(v.tracks)):
        return False
    lines = s.scalars(select(ReceiptLine).where(ReceiptLine.visit_id == old.id, ReceiptLine.origin == "engine")
                      .order_by(ReceiptLine.position))
    return [(ln.sku, ln.qty, ln.price_cents, ln.confidence) for ln in lines] == \
        [(ln.sku, ln.qty, ln.price_cents, ln.confidence) for ln in v.lines]


def _event_kept(s: Session, e: Event, kept_visits: set[int]) -> bool:
    """Must ingest leave this event as it is? When a person marked or corrected it, or touched its visit."""
    if e.no_event or e.visit_id in kept_visits:
        return True
    return bool(s.scalar(select(func.count()).select_from(Correction).where(
        Correction.entity == "event", Correction.entity_id == e.id)))


def _touched(s: Session, v: Visit) -> bool:
    """Has a person done anything with this visit? Then ingest must not change it."""
    if v.final_status != "pending" or v.claimed_by is not None:
        return True
    n = s.scalar(select(func.count()).select_from(Review).where(Review.visit_id == v.id))
    n += s.scalar(select(func.count()).select_from(Correction).where(
        (Correction.visit_id == v.id) | (Correction.target_visit_id == v.id)))
    return bool(n)


def _add_recording(s: Session, key: str, path: Path, duration_s: float, now: datetime, actor: str) -> Recording:
    """The recording's row and its catalog; a recording that moved or is gone is still reviewable from its run."""
    store, started_at = "", ""
    try:
        mf = read_manifest(path)
        store, started_at, duration_s = str(mf.get("store", "")), str(mf.get("started_at", "")), float(mf["duration_s"])
    except (RecordingError, OSError):
        pass
    rec = Recording(key=key, path=str(path), store=store, started_at=started_at, duration_s=duration_s,
                    ingested_at=now)
    s.add(rec)
    s.flush()
    try:
        _, catalog = read_store_dir(path, check_images=False)
    except (RecordingError, OSError):
        catalog = None
    if catalog is not None:
        for p in catalog.products:
            s.add(Product(recording_id=rec.id, sku=p.sku, name=p.name, price_cents=p.price_cents, family=p.family,
                          image=str(catalog.root / p.images[0]) if p.images else None))
    audit(s, now, actor, "ingest_recording", "recording", rec.id, detail={"key": key, "path": str(path)})
    return rec


def _add_missing_products(s: Session, rec: Recording, ev: Evidence) -> None:
    """Skus on the receipts that the catalog did not give (or no catalog was readable): their line price."""
    s.flush()
    known = set(s.scalars(select(Product.sku).where(Product.recording_id == rec.id)))
    seen: dict[str, Any] = {}
    for v in ev.visits:
        for ln in v.lines:
            if ln.sku not in known and ln.sku not in seen:
                seen[ln.sku] = ln.price_cents
    for sku, price in seen.items():
        s.add(Product(recording_id=rec.id, sku=sku, name="", price_cents=int(price), family=""))
