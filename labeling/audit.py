"""The audit log: one row for every write, in the same transaction as the write."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from labeling.models import AuditEntry


def audit(s: Session, at: datetime, actor: str, action: str, entity: str, entity_id: int | None,
          visit_id: int | None = None, correction_id: int | None = None, detail: dict[str, Any] | None = None
          ) -> None:
    s.add(AuditEntry(at=at, actor=actor, action=action, entity=entity, entity_id=entity_id, visit_id=visit_id,
                     correction_id=correction_id, detail=detail or {}))
