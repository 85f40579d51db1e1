"""Reviewer decisions as undoable commands (QUndoStack) that write through to the review database at once.

Each decision is one database correction, stored with its reviewer and time in the audit log when the
command is pushed; undo and redo are corrections' undo and redo in the database, so what the stack shows
and what is stored never differ, and closing or killing the app loses nothing. A decision the database
refuses (someone else's claim, a visit already final) is reported and leaves the stack untouched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtGui import QUndoCommand

from data.errors import InputError


@dataclass
class DecisionContext:
    """What every command needs: the database, who decides, and what to do after each change."""
    db: Any  # labeling ReviewDB
    reviewer: str
    changed: Callable[[], None]  # reload the visit's view
    failed: Callable[[str], None]  # tell the reviewer why a decision was refused


def correction_id(result: Any) -> int | None:
    """The correction a decision made (the database hands back a CorrectionView or its id)."""
    if result is None:
        return None
    return int(result) if isinstance(result, int) else int(getattr(result, "id"))


class DecisionCommand(QUndoCommand):
    """One decision: `apply` makes it (a database correction) the first time; undo/redo replay it there."""

    def __init__(self, ctx: DecisionContext, text: str, apply: Callable[[], Any]) -> None:
        super().__init__(text)
        self.ctx = ctx
        self._apply = apply
        self.correction: int | None = None
        self.error: str | None = None

    def redo(self) -> None:
        try:
            if self.correction is None:
                self.correction = correction_id(self._apply())
            else:
                self.ctx.db.redo(self.correction, reviewer=self.ctx.reviewer)
        except InputError as e:
            self.error = str(e)
            self.setObsolete(True)  # a refused first decision is dropped from the stack by push()
            self.ctx.failed(str(e))
        self.ctx.changed()

    def undo(self) -> None:
        if self.correction is None:
            return
        try:
            self.ctx.db.undo(self.correction, reviewer=self.ctx.reviewer)
        except InputError as e:
            self.ctx.failed(str(e))
        self.ctx.changed()
