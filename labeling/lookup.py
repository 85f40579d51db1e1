"""Finding rows by the keys people and the workstation use, and turning rows into views."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.evidence import Alternative
from labeling.errors import NotFoundError
from labeling.models import Correction, Event, Product, ReceiptLine, Recording, Reviewer, Visit
from labeling.views import CorrectionView, EventView, LineView, ProductView, VisitInfo

VisitKey = int | str  # a database id, "<recording>/<visit>", or a bare visit id when only one recording has it


def visit_key(rec: Recording, v: Visit) -> str:
    return f"{rec.key}/{v.key}"


def find_visit(s: Session, key: VisitKey) -> Visit:
    if isinstance(key, int):
        v = s.get(Visit, key)
        if v is None:
            raise NotFoundError(f"visit {key}: no such visit in the review database")
        return v
    key = str(key)
    if "/" in key:
        rec_key, vk = key.rsplit("/", 1)
        v = s.scalar(select(Visit).join(Recording).where(Recording.key == rec_key, Visit.key == vk))
        if v is None:
            raise NotFoundError(f"visit {key}: no such visit in the review database")
        return v
    found = list(s.scalars(select(Visit).where(Visit.key == key).limit(2)))
    if not found:
        raise NotFoundError(f"visit {key}: no such visit in the review database")
    if len(found) > 1:
        raise NotFoundError(f"visit {key}: several recordings have it; name it as RECORDING/{key}")
    return found[0]


def find_recording(s: Session, key: str | int) -> Recording:
    r = s.get(Recording, key) if isinstance(key, int) else s.scalar(select(Recording).where(Recording.key == key))
    if r is None:
        raise NotFoundError(f"recording {key}: not in the review database (ingest a run of it first)")
    return r


def find_line(s: Session, line_id: int) -> ReceiptLine:
    ln = s.get(ReceiptLine, int(line_id))
    if ln is None:
        raise NotFoundError(f"receipt line {line_id}: no such line")
    return ln


def find_event(s: Session, event_id: int) -> Event:
    e = s.get(Event, int(event_id))
    if e is None:
        raise NotFoundError(f"event {event_id}: no such event")
    return e


def find_correction(s: Session, correction_id: int) -> Correction:
    c = s.get(Correction, int(correction_id))
    if c is None:
        raise NotFoundError(f"correction {correction_id}: no such correction")
    return c


def find_product(s: Session, rec: Recording, sku: str) -> Product:
    p = s.scalar(select(Product).where(Product.recording_id == rec.id, Product.sku == sku))
    if p is None:
        raise NotFoundError(f"sku {sku!r}: not in the catalog of recording {rec.key}")
    return p


def reviewer_name(s: Session, rid: int | None) -> str | None:
    if rid is None:
        return None
    r = s.get(Reviewer, rid)
    return r.name if r else None


def alts(rows: list) -> list[Alternative]:
    return [Alternative(value=r["value"], score=float(r["score"]), track=r.get("track")) for r in rows]


def visit_info(s: Session, v: Visit) -> VisitInfo:
    rec = v.recording
    return VisitInfo(key=visit_key(rec, v), id=v.id, recording=rec.key, visit=v.key, store=rec.store,
                     account=v.account, entered_at=v.entered_at, exited_at=v.exited_at,
                     engine_status=v.engine_status, engine_confidence=v.engine_confidence,
                     reasons=list(v.reasons), tracks=list(v.tracks), final_status=v.final_status,
                     claimed_by=reviewer_name(s, v.claimed_by), claimed_until=v.claimed_until)


def line_view(ln: ReceiptLine) -> LineView:
    return LineView(id=ln.id, position=ln.position, sku=ln.sku, qty=ln.qty, price_cents=ln.price_cents,
                    confidence=ln.confidence, alternatives=alts(ln.alternatives), events=list(ln.event_keys),
                    t=ln.t, origin=ln.origin, deleted=ln.deleted)


def event_view(e: Event) -> EventView:
    return EventView(id=e.id, key=e.key, sensor=e.sensor, t0=e.t0, t1=e.t1, delta_g=e.delta_g, sd_g=e.sd_g,
                     kind=e.kind, bin=e.bin, sku=e.sku, qty=e.qty, visit=e.visit_key, track=e.track, hand=e.hand,
                     confidence=e.confidence, shoppers=alts(e.shoppers), products=alts(e.products),
                     counts=alts(e.counts), hand_path=[list(p) for p in e.hand_path], reasons=list(e.reasons),
                     no_event=e.no_event)


def product_view(p: Product) -> ProductView:
    return ProductView(sku=p.sku, name=p.name, price_cents=p.price_cents, family=p.family,
                       image=Path(p.image) if p.image else None)


def correction_view(s: Session, c: Correction) -> CorrectionView:
    def key(vid: int | None) -> str | None:
        if vid is None:
            return None
        v = s.get(Visit, vid)
        return visit_key(v.recording, v) if v else None

    return CorrectionView(id=c.id, kind=c.kind, entity=c.entity, entity_id=c.entity_id, visit=key(c.visit_id),
                          target_visit=key(c.target_visit_id), reviewer=reviewer_name(s, c.reviewer_id) or "",
                          before=dict(c.before), after=dict(c.after), created_at=c.created_at, undone=c.undone)
