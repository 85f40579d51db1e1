"""The load cells a visit touched, plotted under the video (pyqtgraph): the cursor, the events, click to seek.

One row per cell (x axes linked), the visit's span in view. Event markers are coloured by kind and say
what the engine read (`take sku -352 g`); the change-point layer shades each event's change (t0..t1);
the truth layer marks where the recording's truth put an action.
"""
from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QGraphicsView, QVBoxLayout, QWidget

from engine.evidence import Event
from review_ui.overlays import Layers
from review_ui.visit_scene import VisitScene, event_key

KIND_COLOUR = {"take": (240, 140, 60), "put": (80, 160, 240), "misplaced_put": (200, 120, 240),
               "restock": (90, 200, 110), "hand_over": (240, 200, 60), "touch": (160, 160, 160),
               "unexplained": (255, 140, 0)}


class LoadCellPanel(QWidget):
    seekRequested = Signal(float)

    def __init__(self, scene: VisitScene, layers: Layers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.layers = layers
        pg.setConfigOptions(antialias=False, background=(24, 24, 28), foreground=(220, 220, 220))
        self.view = pg.GraphicsLayoutWidget()
        # a moving cursor must not re-render every curve and axis: repaint only what changed, from caches
        self.view.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        self.plots: list[pg.PlotItem] = []
        self.cursors: list[pg.InfiniteLine] = []
        self.cells: list[str] = []
        self.markers: dict[str, list[pg.InfiniteLine]] = {}
        self.highlighted: str | None = None
        self._last_draw = 0.0
        self.view.scene().sigMouseClicked.connect(self._clicked)

    def show_visit(self, key: str | None = None, selected: Event | None = None) -> None:
        """Build the plots for the scene's focused visit (costly: once per visit, and when layers change)."""
        self.view.clear()
        self.plots, self.cursors, self.markers = [], [], {}
        self.highlighted = event_key(selected) if selected is not None else None
        self.cells = self.scene.cells_of(first=selected.sensor if selected is not None else None)
        a, b = self.scene.span(key)
        events = self.scene.events_of()
        for row, sid in enumerate(self.cells):
            p = self.view.addPlot(row=row, col=0)
            p.setMenuEnabled(False)
            p.setMouseEnabled(x=True, y=False)
            p.showGrid(x=True, y=True, alpha=0.2)
            p.getAxis("left").setWidth(52)
            p.setLabel("left", f"{sid} g")
            if row < len(self.cells) - 1:
                p.getAxis("bottom").setStyle(showValues=False)
            t, g = self.scene.weights.get(sid, (np.zeros(0), np.zeros(0)))
            m = (t >= a - 2) & (t <= b + 2)
            curve = p.plot(t[m], g[m], pen=pg.mkPen((200, 200, 200), width=1))
            curve.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            for ax in ("left", "bottom"):
                p.getAxis(ax).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            if self.plots:
                p.setXLink(self.plots[0])
            p.setXRange(a, b, padding=0.01)
            if m.any():
                lo, hi = float(np.min(g[m])), float(np.max(g[m]))
                p.setYRange(lo - 0.1 * (hi - lo + 1), hi + 0.25 * (hi - lo + 1), padding=0)
            for e in events:
                if e.sensor == sid:
                    self._event(p, e, event_key(e) == self.highlighted)
            if self.layers.truth:
                bins = {b_.id for b_ in self.scene.rec.store.bins_on(sid)}
                for te in self.scene.truth_events:
                    if te.get("bin") in bins and a - 2 <= te["t"] <= b + 2:
                        p.addItem(pg.InfiniteLine(te["t"], pen=pg.mkPen((255, 255, 255), width=1,
                                                                        style=Qt.PenStyle.DotLine),
                                                  label=f"truth {te['kind']}", labelOpts={"position": 0.12,
                                                                                           "color": "w"}))
            cur = pg.InfiniteLine(a, pen=pg.mkPen((255, 220, 0), width=2))
            p.addItem(cur)
            self.plots.append(p)
            self.cursors.append(cur)
        if not self.cells:
            p = self.view.addPlot()
            p.setTitle("no load cell readings for this visit")
            self.plots.append(p)

    def _event(self, p: pg.PlotItem, e: Event, selected: bool) -> None:
        c = KIND_COLOUR.get(e.kind, (200, 200, 200))
        if getattr(e, "no_event", False):
            c = (110, 110, 110)
        if self.layers.changepoints:
            r = pg.LinearRegionItem((e.t0, e.t1), movable=False, brush=pg.mkBrush(*c, 60), pen=pg.mkPen(*c))
            p.addItem(r)
        name = self.scene.product_name(e.sku)
        line = pg.InfiniteLine(e.t0, pen=pg.mkPen(c, width=3 if selected else 1.5),
                               label=f"{e.kind} {name} {e.delta_g:+.0f} g", labelOpts={
                                   "position": 0.88, "color": c, "fill": (0, 0, 0, 150)})
        p.addItem(line)
        self.markers.setdefault(event_key(e), []).append(line)

    def highlight(self, e: Event | None) -> None:
        """Make the selected event's marker bold (without rebuilding the plots)."""
        k = event_key(e) if e is not None else None
        for key, width in ((self.highlighted, 1.5), (k, 3.0)):
            for line in self.markers.get(key, []) if key else []:
                pen = line.pen
                pen.setWidthF(width)
                line.setPen(pen)
        self.highlighted = k

    def set_cursor(self, t: float, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 1 / 30:  # the plots need not follow faster than 30 Hz
            return
        self._last_draw = now
        for c in self.cursors:
            c.setValue(t)

    def _clicked(self, ev) -> None:  # noqa: ANN001 - pyqtgraph's event type
        for p in self.plots:
            if p.sceneBoundingRect().contains(ev.scenePos()):
                t = p.vb.mapSceneToView(ev.scenePos()).x()
                self.seekRequested.emit(float(t))
                return
