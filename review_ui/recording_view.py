"""The time-synchronised views of one recording: camera grid, load-cell plots, timeline and store map.

They share one `SyncPlayer` cursor. Built once per recording (the cameras' decoders live as long as it)
and pointed at a visit with `show_visit`.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from review_ui.camera_grid import CameraGrid
from review_ui.loadcell_plot import LoadCellPanel
from review_ui.overlays import Layers
from review_ui.player import SyncPlayer
from review_ui.store_map import StoreMap
from review_ui.timeline import Timeline
from review_ui.visit_scene import VisitScene, event_key


class RecordingView(QWidget):
    def __init__(self, scene: VisitScene, layers: Layers, player: SyncPlayer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.layers = layers
        self.player = player
        self.selected = None  # the selected event (Event or EventView)
        self.grid = CameraGrid(scene, layers)
        self.plots = LoadCellPanel(scene, layers)
        self.timeline = Timeline(scene, layers)
        self.map = StoreMap(scene, layers)
        self.problems = QLabel("")
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("background:#5a4a10;color:#fff;padding:3px")
        self.problems.setVisible(bool(scene.problems))
        self.problems.setText("\n".join(scene.problems))
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.grid)
        split.addWidget(self.plots)
        split.addWidget(self.timeline)
        split.setStretchFactor(0, 6)
        split.setStretchFactor(1, 2)
        split.setStretchFactor(2, 1)
        split.setSizes([640, 190, 110])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addWidget(self.problems)
        lay.addWidget(split, 1)
        self._plots_due = False
        self._refine = QTimer(self)
        self._refine.setSingleShot(True)
        self._refine.setInterval(200)
        self._refine.timeout.connect(self._smooth)
        self.grid.allShown.connect(self._build_plots)
        self.plots.seekRequested.connect(player.seek)
        self.timeline.seekRequested.connect(player.seek)
        player.cursorChanged.connect(self.set_cursor)

    def show_visit(self) -> None:
        """Redraw for the scene's focus (its span, events and cells). The plots are built once the cameras
        show their first frames (or after 0.4 s): pictures first, they are what the reviewer waits for."""
        self.player.set_span(*self.scene.span())
        self.timeline.show_visit(None)
        self.map.show_visit(None)
        self._plots_due = True
        QTimer.singleShot(400, self, self._build_plots)

    def _build_plots(self) -> None:
        if self._plots_due:
            self._plots_due = False
            self.plots.show_visit(None, self.selected)
            self.plots.set_cursor(self.player.t, force=True)

    def select(self, e) -> None:  # noqa: ANN001 - Event or EventView (None clears)
        self.selected = e
        self.grid.set_selected(e)
        self.map.selected = e
        self.map.update()
        self.timeline.selected = event_key(e) if e is not None else None
        self.timeline.update()
        self.plots.highlight(e)

    def set_cursor(self, t: float) -> None:
        """Every view to time t. Tiles paint fast (unfiltered scaling) while the cursor moves and repaint smooth
        once it has rested for 200 ms: a step or a seek is on screen a few ms sooner, and still looks right.
        After a seek or a step the cameras paint before the side views (what the reviewer waits for first)."""
        playing = self.player.playing
        self.grid.set_smooth(False)
        self._refine.start()
        self.grid.set_cursor(t, jump=not playing)
        if playing:
            self._side_views(t)
        else:  # a seek or a step: the cameras paint first, the plots, timeline and map a pass later
            QTimer.singleShot(0, self, lambda: self._side_views(self.player.t))

    def _side_views(self, t: float) -> None:
        self.plots.set_cursor(t, force=not self.player.playing)
        self.timeline.set_cursor(t)
        self.map.set_cursor(t)

    def _smooth(self) -> None:
        if not self.player.playing:
            self.grid.set_smooth(True)
            self.grid.refresh()

    def refresh_layers(self) -> None:
        self.grid.refresh()
        self.plots.show_visit(None, self.selected)
        self.plots.set_cursor(self.player.t, force=True)
        self.timeline.update()
        self.map.update()

    def close_view(self) -> None:
        try:
            self.player.cursorChanged.disconnect(self.set_cursor)
        except (RuntimeError, TypeError):
            pass
        self.grid.close_decoders()
