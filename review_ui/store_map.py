"""A top-down map of the store at the cursor: floor, shelves, bins, gates, people and the paths they walked.

The visit's own people are drawn bold with their whole path through the visit; everyone else thin.
With the truth layer on, the recording's true positions are drawn as rings beside the engine's dots.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from engine.evidence import Event
from review_ui.overlays import Layers, track_colour
from review_ui.visit_scene import VisitScene


class StoreMap(QWidget):
    def __init__(self, scene: VisitScene, layers: Layers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.layers = layers
        self.t = 0.0
        self.visit: str | None = None
        self.selected: Event | None = None
        self.setMinimumSize(200, 140)
        self._paths: dict[int, np.ndarray] = {}

    def show_visit(self, key: str | None) -> None:
        self.visit = key
        a, b = self.scene.span(key)
        self._paths = {k: self.scene.path_of(k, a, b) for k in range(len(self.scene.track_ids))}
        self.update()

    def set_cursor(self, t: float) -> None:
        self.t = t
        self.update()

    def _mine(self) -> set[str]:
        return set(self.scene.focus.tracks) if self.scene.focus is not None else set()

    def paintEvent(self, e: QPaintEvent) -> None:  # noqa: N802 - Qt name
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.fillRect(self.rect(), QColor(28, 28, 32))
        store = self.scene.rec.store
        x0, y0, x1, y1 = store.bounds
        pad = 10
        top = 20  # the title's line
        s = min((self.width() - 2 * pad) / (x1 - x0), (self.height() - 2 * pad - top) / (y1 - y0))
        ox = (self.width() - (x1 - x0) * s) / 2
        oy = top + (self.height() - top - (y1 - y0) * s) / 2

        def pt(x: float, y: float) -> QPointF:  # y up on the plan, down on screen
            return QPointF(ox + (x - x0) * s, oy + (y1 - y) * s)

        p.setPen(QPen(QColor(150, 150, 150), 1.5))
        p.setBrush(QColor(52, 50, 46))
        p.drawPolygon(QPolygonF([pt(x, y) for x, y in store.floor]))
        p.setBrush(QColor(90, 90, 100))
        p.setPen(QPen(QColor(130, 130, 140), 1))
        for sh in store.shelves:
            p.drawRect(QRectF(pt(sh.min[0], sh.max[1]), pt(sh.max[0], sh.min[1])))
        hot = self.selected.bin if self.selected is not None else None
        for b in store.bins:
            if b.id == hot:
                p.setBrush(QColor(255, 200, 0))
                p.setPen(QPen(QColor(255, 200, 0), 2))
                r = QRectF(pt(b.min[0], b.max[1]), pt(b.max[0], b.min[1]))
                p.drawRect(r.adjusted(-2, -2, 2, 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        f = QFont()
        f.setPixelSize(10)
        p.setFont(f)
        for g in store.gates:
            (a, b_), (c, d) = g.zone
            col = QColor(90, 200, 110) if g.kind == "entry" else QColor(230, 90, 90)
            p.setPen(QPen(col, 2))
            p.drawRect(QRectF(pt(min(a, c), max(b_, d)), pt(max(a, c), min(b_, d))))
            p.drawText(pt(min(a, c), max(b_, d)) + QPointF(2, -3), g.id)
        mine = self._mine()
        ids = self.scene.track_ids
        for k, path in self._paths.items():
            if len(path) < 2:
                continue
            col = track_colour(k)
            col.setAlpha(220 if ids[k] in mine else 70)
            p.setPen(QPen(col, 2.0 if ids[k] in mine else 1.0))
            p.drawPolyline(QPolygonF([pt(x, y) for x, y in path]))
        if self.layers.truth and self.scene.truth_joints is not None:
            p.setPen(QPen(QColor(255, 255, 255), 1.2))
            for j in self.scene.truth_joints_at(self.t):
                hips = j[[11, 12], :2]
                hips = hips[np.isfinite(hips).all(1)]
                if len(hips):
                    hip = hips.mean(0)
                    p.drawEllipse(pt(*hip), 7, 7)
        xy = self.scene.floor_at(self.t)
        f.setPixelSize(11)
        f.setBold(True)
        p.setFont(f)
        for k, (x, y) in enumerate(xy):
            if not (np.isfinite(x) and np.isfinite(y)):
                continue
            col = track_colour(k)
            p.setPen(QPen(QColor(0, 0, 0), 1))
            p.setBrush(col)
            r = 6 if ids[k] in mine else 4.5
            p.drawEllipse(pt(x, y), r, r)
            p.setPen(col)
            p.drawText(pt(x, y) + QPointF(7, -5), ids[k])
        p.setPen(QColor(200, 200, 200))
        f.setBold(False)
        p.setFont(f)
        p.drawText(QPointF(ox, oy - 6), f"store map  t={self.t:.2f} s")
        p.end()
