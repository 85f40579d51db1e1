"""The visit on one strip of time: events (takes, puts, …), tangles, camera gaps and faults; click to seek.

Rows are fixed so the eye learns where to look: events, tangled people, camera gaps, faults (and the
truth's events when that layer is on). Doubtful events carry a red ring. Clicking an event selects it;
clicking anywhere else seeks there.
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from engine.evidence import Event
from review_ui.loadcell_plot import KIND_COLOUR
from review_ui.overlays import Layers
from review_ui.visit_scene import DOUBTFUL, VisitScene, event_key

LABEL_W = 86
ROW_H = 18


class Timeline(QWidget):
    seekRequested = Signal(float)
    eventClicked = Signal(str)

    def __init__(self, scene: VisitScene, layers: Layers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.layers = layers
        self.visit: str | None = None
        self.span = (0.0, scene.rec.duration_s)
        self.t = 0.0
        self.events: list[Event] = []
        self.selected: str | None = None
        self.setMinimumHeight(ROW_H * 5 + 20)

    def show_visit(self, key: str | None) -> None:
        self.visit = key
        self.span = self.scene.span(key)
        self.events = self.scene.events_of(key)
        self.update()

    def set_cursor(self, t: float) -> None:
        self.t = t
        self.update()

    def _x(self, t: float) -> float:
        a, b = self.span
        return LABEL_W + (t - a) / (b - a) * (self.width() - LABEL_W - 8)

    def _t(self, x: float) -> float:
        a, b = self.span
        return a + (x - LABEL_W) / max(1.0, self.width() - LABEL_W - 8) * (b - a)

    def _rows(self) -> list[str]:
        rows = ["events", "tangles", "camera gaps", "faults"]
        return rows + ["truth"] if self.layers.truth and self.scene.truth_events else rows

    def paintEvent(self, e: QPaintEvent) -> None:  # noqa: N802 - Qt name
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.fillRect(self.rect(), QColor(28, 28, 32))
        f = QFont()
        f.setPixelSize(11)
        p.setFont(f)
        rows = self._rows()
        top = 16
        for i, name in enumerate(rows):
            y = top + i * ROW_H
            p.fillRect(QRectF(0, y, self.width(), ROW_H - 1), QColor(36, 36, 42) if i % 2 else QColor(32, 32, 37))
            p.setPen(QColor(170, 170, 170))
            p.drawText(QRectF(4, y, LABEL_W - 6, ROW_H), Qt.AlignmentFlag.AlignVCenter, name)
        # time ticks
        a, b = self.span
        step = next(s for s in (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600) if (b - a) / s <= 14)
        p.setPen(QColor(120, 120, 120))
        k = int(a // step) + 1
        while k * step <= b:
            x = self._x(k * step)
            p.drawLine(QPointF(x, top - 3), QPointF(x, top))
            p.drawText(QPointF(x - 8, 11), f"{k * step:g}")
            k += 1
        y_ev = top
        for ev in self.events:
            c = QColor(*KIND_COLOUR.get(ev.kind, (200, 200, 200)))
            x0, x1 = self._x(ev.t0), max(self._x(ev.t1), self._x(ev.t0) + 5)
            r = QRectF(x0, y_ev + 3, x1 - x0, ROW_H - 7)
            if getattr(ev, "no_event", False):
                c.setAlpha(70)
            p.fillRect(r, c)
            if ev.confidence < DOUBTFUL or ev.reasons:
                p.setPen(QPen(QColor(255, 40, 90), 2))
                p.drawRect(r.adjusted(-1, -1, 1, 1))
            if event_key(ev) == self.selected:
                p.setPen(QPen(QColor(255, 255, 255), 2))
                p.drawRect(r.adjusted(-3, -3, 3, 3))
        mine = set(self.scene.focus.tracks) if self.scene.focus is not None else set()
        run = self.scene.run
        if run is not None:
            y = top + ROW_H
            p.setPen(Qt.PenStyle.NoPen)
            for tr in run.tracks:
                if mine and tr.id not in mine:
                    continue
                for t0, t1, other in tr.tangled:
                    p.fillRect(QRectF(self._x(t0), y + 4, max(2.0, self._x(t1) - self._x(t0)), ROW_H - 9),
                               QColor(240, 160, 40, 180))
            y = top + 2 * ROW_H
            for g in run.manifest.get("camera_gaps", []):
                r = QRectF(self._x(g["from"]), y + 4, max(2.0, self._x(g["to"]) - self._x(g["from"])), ROW_H - 9)
                p.fillRect(r, QColor(150, 150, 220, 180))
                p.setPen(QColor(220, 220, 255))
                p.drawText(r.topLeft() + QPointF(2, 9), g.get("camera", ""))
        y = top + 3 * ROW_H
        for ev in self.events:
            if ev.kind == "unexplained" or "sensor-fault" in ev.reasons or "weight-mismatch" in ev.reasons:
                p.fillRect(QRectF(self._x(ev.t0) - 2, y + 3, 5, ROW_H - 7), QColor(255, 80, 80))
        if "truth" in rows:
            y = top + 4 * ROW_H
            for te in self.scene.truth_events:
                if a <= te["t"] <= b:
                    c = QColor(*KIND_COLOUR.get(te["kind"], (220, 220, 220)))
                    p.setPen(QPen(c, 2))
                    p.drawLine(QPointF(self._x(te["t"]), y + 3), QPointF(self._x(te["t"]), y + ROW_H - 4))
        x = self._x(self.t)
        p.setPen(QPen(QColor(255, 220, 0), 2))
        p.drawLine(QPointF(x, top - 4), QPointF(x, top + len(rows) * ROW_H))
        p.end()

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt name
        x, y = e.position().x(), e.position().y()
        if x < LABEL_W:
            return
        if 16 <= y < 16 + ROW_H:
            for ev in self.events:
                if self._x(ev.t0) - 4 <= x <= max(self._x(ev.t1), self._x(ev.t0) + 5) + 4:
                    self.eventClicked.emit(event_key(ev))
                    return
        self.seekRequested.emit(self._t(x))
