"""All cameras at the cursor's time: one tile per camera, one enlarged, overlays drawn over each frame.

Each tile shows the frame of its camera nearest the cursor (cameras are synchronised by time, not by
frame number) as soon as its decoder has it, and says so plainly when its camera has no frame there
or its video cannot be read. Tiles keep what they showed for the benchmarks: frames shown, and the
time of the frame on screen.
"""
from __future__ import annotations

import math
import time

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QGridLayout, QSizePolicy, QWidget

from engine.evidence import Event
from review_ui.decoder import CameraDecoder, DecodedFrame, PrefetchGate
from review_ui.overlays import Layers, View, draw_overlays, font
from review_ui.visit_scene import VisitScene

HEADER_PX = 18


class CameraTile(QWidget):
    clicked = Signal(str)
    paintedFrame = Signal()

    def __init__(self, cam_id: str, decoder: CameraDecoder, scene: VisitScene, layers: Layers,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cam_id = cam_id
        self.decoder = decoder
        self.scene = scene
        self.layers = layers
        self.cam = scene.camera(cam_id)
        self.frame: DecodedFrame | None = None
        self.cursor = 0.0
        self.message: str | None = "opening…"
        self.selected: Event | None = None
        self.enlarged = False
        self.smooth = True
        self.shown = 0  # frames put on screen (benchmarks)
        self.shown_at: float = 0.0  # monotonic time of the last new frame
        self.painted = -1  # index of the frame last painted (-2: a message was painted)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120 + HEADER_PX)

    # -- state ------------------------------------------------------------------------------------
    def show_frame(self, f: DecodedFrame) -> None:
        if self.frame is not None and self.frame.index == f.index and self.message is None:
            return
        self.frame = f
        self.message = None
        self.shown += 1
        self.shown_at = time.monotonic()
        self.update()

    def show_message(self, text: str) -> None:
        if self.message != text:
            self.message = text
            self.update()

    @property
    def shown_t(self) -> float:
        return self.frame.t if self.frame is not None and self.message is None else math.nan

    def mousePressEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt name
        self.clicked.emit(self.cam_id)

    # -- drawing ----------------------------------------------------------------------------------
    def paintEvent(self, e: QPaintEvent) -> None:  # noqa: N802 - Qt name
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(18, 18, 20))
        w, h = self.width(), self.height() - HEADER_PX
        cw, ch = self.cam.width, self.cam.height
        s = min(w / cw, h / ch)
        v = View(s, (w - cw * s) / 2, HEADER_PX + (h - ch * s) / 2)
        if self.frame is not None and self.message is None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.smooth)
            p.drawImage(QRectF(v.dx, v.dy, cw * s, ch * s), self.frame.image)
            draw_overlays(p, v, self.scene, self.cam, self.frame.t, self.layers, self.selected, self.enlarged)
            self.painted = self.frame.index
            self.paintedFrame.emit()
        elif self.message:
            p.setFont(font(13)[0])
            p.setPen(QColor(255, 150, 120) if "no frame" not in self.message else QColor(200, 200, 200))
            p.drawText(QRectF(12, HEADER_PX, w - 24, h), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.message)
            self.painted = -2
        # header: camera, frame time and its offset from the cursor
        p.fillRect(QRectF(0, 0, self.width(), HEADER_PX), QColor(45, 45, 50) if not self.enlarged
                   else QColor(70, 60, 20))
        p.setFont(font(12, self.enlarged)[0])
        p.setPen(QColor(235, 235, 235))
        head = self.cam_id
        if self.frame is not None and self.message is None:
            head += f"   t={self.frame.t:.3f} s  ({(self.frame.t - self.cursor) * 1e3:+.0f} ms)"
        p.drawText(QRectF(6, 0, self.width() - 12, HEADER_PX), Qt.AlignmentFlag.AlignVCenter, head)
        p.end()


class CameraGrid(QWidget):
    """The tiles, laid out with one camera enlarged (2x2 cells) and the others around it."""
    enlargedChanged = Signal(str)
    allShown = Signal()  # every camera shows its frame at the cursor (after a seek)

    def __init__(self, scene: VisitScene, layers: Layers, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scene = scene
        self.layers = layers
        self.cursor = 0.0
        self.decoders: dict[str, CameraDecoder] = {}
        self.tiles: dict[str, CameraTile] = {}
        self.gate = PrefetchGate()  # shared: no camera decodes ahead while a seek's frames are on their way
        for cam in scene.rec.cameras:
            dec = CameraDecoder(cam.id, scene.rec.video_path(cam), (cam.width, cam.height), cam.fps, parent=self,
                                gate=self.gate)
            dec.signals.ready.connect(self._on_ready)
            dec.signals.failed.connect(self._on_failed)
            dec.signals.opened.connect(self._on_opened)
            self.decoders[cam.id] = dec
            tile = CameraTile(cam.id, dec, scene, layers, self)
            tile.clicked.connect(self.enlarge)
            tile.paintedFrame.connect(self._on_painted)
            self.tiles[cam.id] = tile
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(3)
        self.enlarged = scene.rec.cameras[0].id if scene.rec.cameras else ""
        self._layout()

    def _layout(self) -> None:
        for t in self.tiles.values():
            self._grid.removeWidget(t)
        ids = list(self.tiles)
        if not ids:
            return
        cols = 3 if len(ids) > 2 else len(ids)
        big = self.enlarged
        self.tiles[big].enlarged = True
        if len(ids) <= 2:
            for k, cid in enumerate(ids):
                self.tiles[cid].enlarged = cid == big
                self._grid.addWidget(self.tiles[cid], 0, k)
            return
        self._grid.addWidget(self.tiles[big], 0, 0, 2, 2)
        free = [(r, c) for r in range(0, 99) for c in range(cols) if not (r < 2 and c < 2)]
        for (r, c), cid in zip(free, [i for i in ids if i != big]):
            self.tiles[cid].enlarged = False
            self._grid.addWidget(self.tiles[cid], r, c)
        rows = 2 + math.ceil(max(0, len(ids) - 1 - 2) / cols)
        for r in range(rows):
            self._grid.setRowStretch(r, 1)
        for c in range(cols):
            self._grid.setColumnStretch(c, 1)

    def enlarge(self, cam_id: str) -> None:
        if cam_id not in self.tiles or cam_id == self.enlarged:
            return
        self.enlarged = cam_id
        self._layout()
        self.enlargedChanged.emit(cam_id)

    def enlarge_next(self) -> None:
        ids = list(self.tiles)
        if ids:
            self.enlarge(ids[(ids.index(self.enlarged) + 1) % len(ids)])

    def set_selected(self, e: Event | None) -> None:
        for t in self.tiles.values():
            t.selected = e
            t.update()

    def refresh(self) -> None:
        for t in self.tiles.values():
            t.update()

    def set_smooth(self, on: bool) -> None:
        for t in self.tiles.values():
            t.smooth = on

    # -- time -------------------------------------------------------------------------------------
    def set_cursor(self, t: float, jump: bool = False) -> None:
        """Every tile to time t. A jump (a seek or a step, not a playback tick) holds the decoders' prefetch
        until every tile has painted its new frame."""
        self.cursor = t
        if jump:
            self.gate.hold()
        for cid, tile in self.tiles.items():
            tile.cursor = t
            self._update_tile(cid)

    def _update_tile(self, cid: str) -> None:
        dec, tile = self.decoders[cid], self.tiles[cid]
        if dec.error:
            tile.show_message(dec.error)
            return
        if dec.times is None:
            tile.show_message("opening…")
            return
        i = dec.index_near(self.cursor)
        if i is None:
            ts = dec.times
            where = ("before its first frame" if self.cursor < ts[0] else
                     "after its last frame" if self.cursor > ts[-1] else "in a gap")
            tile.show_message(f"{cid}: no frame at {self.cursor:.2f} s ({where})")
            return
        f = dec.request_index(i)
        if f is not None:
            tile.show_frame(f)
        # else: the decoder is on it; the frame on screen stays until `ready`

    def _on_ready(self, cid: str, i: int) -> None:
        dec = self.decoders.get(cid)
        if dec is not None and dec.index_near(self.cursor) == i:
            f = dec.cached(i)
            if f is not None:
                self.tiles[cid].show_frame(f)
                if self.all_shown():
                    QTimer.singleShot(30, self, self.allShown.emit)  # after the tiles' paint; dropped if the grid dies first

    def _on_painted(self) -> None:
        if self.gate.wait_s() and self.all_painted():
            # after this paint pass (the plots, the map): prefetch then has the machine to itself
            QTimer.singleShot(0, self, self.gate.release)

    def _on_opened(self, cid: str) -> None:
        self._update_tile(cid)

    def _on_failed(self, cid: str, msg: str) -> None:
        self.tiles[cid].show_message(msg)

    def all_shown(self) -> bool:
        """Every camera that has a frame at the cursor shows it (and the others say why not)."""
        for cid, dec in self.decoders.items():
            tile = self.tiles[cid]
            if dec.error:
                continue
            if dec.times is None:
                return False
            i = dec.index_near(self.cursor)
            if i is not None and (tile.frame is None or tile.frame.index != i or tile.message is not None):
                return False
        return True

    def all_painted(self) -> bool:
        """all_shown, and on screen: every tile has painted what it shows."""
        return self.all_shown() and all(
            t.painted == (t.frame.index if t.message is None and t.frame is not None else -2)
            for cid, t in self.tiles.items() if not self.decoders[cid].error)

    def close_decoders(self) -> None:
        for d in self.decoders.values():
            d.close()
