"""Final receipts: recording.md's receipts.json as review left it.

Engine-charged visits stay `auto`, visits still waiting stay `review`; reviewed ones are `confirmed` or
`corrected`, with the lines as the reviewer left them and confidence 1 (a person checked them).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.evidence import RECEIPTS_FORMAT
from labeling.models import ReceiptLine, Recording, Visit


def final_receipts(s: Session, rec: Recording) -> dict[str, Any]:
    visits = []
    for v in s.scalars(select(Visit).where(Visit.recording_id == rec.id).order_by(Visit.entered_at, Visit.key)):
        reviewed = v.final_status != "pending"
        lines = s.scalars(select(ReceiptLine).where(ReceiptLine.visit_id == v.id, ReceiptLine.deleted.is_(False))
                          .order_by(ReceiptLine.position, ReceiptLine.id))
        visits.append({"visit": v.key, "account": v.account, "entered_at": v.entered_at, "exited_at": v.exited_at,
                       "status": v.final_status if reviewed else v.engine_status,
                       "confidence": 1.0 if reviewed else v.engine_confidence,
                       "reasons": list(v.reasons),
                       "lines": [{"sku": ln.sku, "qty": ln.qty, "price_cents": ln.price_cents,
                                  "confidence": 1.0 if reviewed or ln.confidence is None else ln.confidence}
                                 for ln in lines]})
    return {"format": RECEIPTS_FORMAT, "recording": rec.key, "visits": visits}


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)
