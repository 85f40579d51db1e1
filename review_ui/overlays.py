"""What is drawn over one camera's frame: people, bins, the selected event's hand-to-bin link, held products,
and the engineers' layers (detections, 2D keypoints, reprojection residuals, association scores, truth).

Everything is computed in the camera's pixels and mapped to the tile's widget coordinates by `View`, so
text keeps a readable size whatever the tile's scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPen, QPolygonF

from data.cameras import Camera
from data.world import LIMBS
from engine.evidence import Event
from review_ui.visit_scene import WRIST, VisitScene

PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255)]


def track_colour(i: int) -> QColor:
    r, g, b = PALETTE[i % len(PALETTE)]
    return QColor(r, g, b)


@dataclass
class Layers:
    """Which overlays are on. The first four are the reviewer's; the rest are the engineers'."""
    people: bool = True
    bins: bool = True
    link: bool = True
    held: bool = True
    detections: bool = False
    keypoints: bool = False
    residuals: bool = False
    changepoints: bool = False
    association: bool = False
    truth: bool = False

    def any_engineer(self) -> bool:
        return any(getattr(self, n) for n in ENGINEER_LAYERS)


ENGINEER_LAYERS = ("detections", "keypoints", "residuals", "changepoints", "association", "truth")


@dataclass
class View:
    """Image pixels -> widget coordinates of one tile (uniform scale plus offset)."""
    scale: float
    dx: float
    dy: float

    def p(self, u: float, v: float) -> QPointF:
        return QPointF(self.dx + (u + 0.5) * self.scale, self.dy + (v + 0.5) * self.scale)


def _ok(uv: np.ndarray) -> bool:
    return bool(np.isfinite(uv).all())


_FONTS: dict[tuple[int, bool], tuple[QFont, QFontMetrics]] = {}
_LABEL_BOX = QColor(0, 0, 0, 170)


def font(size: int, bold: bool = False) -> tuple[QFont, QFontMetrics]:
    """A font of this pixel size and its metrics, made once (a paint draws dozens of labels)."""
    if (size, bold) not in _FONTS:
        f = QFont()
        f.setPixelSize(size)
        f.setBold(bold)
        _FONTS[size, bold] = (f, QFontMetrics(f))
    return _FONTS[size, bold]


def _label(p: QPainter, at: QPointF, text: str, colour: QColor, size: int = 11) -> None:
    """Text on a dark box so it reads over any picture."""
    f, metrics = font(size)
    p.setFont(f)
    r = metrics.boundingRect(text)
    box = QRectF(at.x(), at.y() - r.height(), r.width() + 6, r.height() + 2)
    p.fillRect(box, _LABEL_BOX)
    p.setPen(colour)
    p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


def _skeleton(p: QPainter, v: View, uv: np.ndarray, colour: QColor, width: float, dashed: bool = False) -> None:
    """Limbs in one drawLines call and joints in one drawPoints call (a paint draws dozens of people)."""
    ok = np.isfinite(uv).all(1)
    xy = (v.dx + (uv[:, 0] + 0.5) * v.scale).tolist(), (v.dy + (uv[:, 1] + 0.5) * v.scale).tolist()
    pts = [QPointF(xy[0][k], xy[1][k]) if ok[k] else None for k in range(len(uv))]
    lines = [QLineF(pts[a], pts[b]) for a, b in LIMBS if ok[a] and ok[b]]
    pen = QPen(colour, width)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    p.setPen(pen)
    if lines:
        p.drawLines(lines)
    dots = QPen(colour, width + 2.5)
    dots.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(dots)
    p.drawPoints(QPolygonF([q for q in pts if q is not None]))


def draw_overlays(p: QPainter, v: View, scene: VisitScene, cam: Camera, t: float, layers: Layers,
                  selected: Event | None = None, detail: bool = True) -> None:
    """Draw every enabled layer for camera `cam` at time t (the time of the frame shown); `detail`: the
    enlarged tile, which alone carries the longer texts (small tiles would be buried under them)."""
    if layers.bins:  # thin outlines: aliased, they look the same and cost a third
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        _bins(p, v, scene, cam, selected)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, detail)  # the small tiles draw fast, the enlarged one fine
    if layers.truth and scene.truth_joints is not None:
        tj = scene.truth_joints_at(t)
        for j in tj:
            if np.isfinite(j).any():
                _skeleton(p, v, cam.project(j), QColor(255, 255, 255, 220), 1.2, dashed=True)
    if layers.detections or layers.keypoints or layers.residuals:
        _engine_2d(p, v, scene, cam, t, layers)
    joints = scene.joints_at(t)
    uvs = scene.people_in(cam, t)
    if layers.people:
        conf = scene.confidence_at(t)
        ids = scene.track_ids
        for k, uv in enumerate(uvs):
            if not np.isfinite(uv).any():
                continue
            col = track_colour(k)
            _skeleton(p, v, uv, col, 2.0)
            head = uv[0] if _ok(uv[0]) else uv[np.isfinite(uv).all(1)][0]
            c = conf[k] if k < len(conf) and np.isfinite(conf[k]) else float("nan")
            text = f"{ids[k]} {c:.2f}" if np.isfinite(c) and detail else ids[k]
            _label(p, v.p(head[0] - 18, head[1] - 14), text, col, 11 if detail else 10)
    if layers.held and detail:
        held = scene.held_at(t)
        for k, tid in enumerate(scene.track_ids):
            if tid in held and held[tid] and np.isfinite(uvs[k]).any():
                uv = uvs[k]
                anchor = uv[10] if _ok(uv[10]) else uv[np.isfinite(uv).all(1)][0]
                text = ", ".join(f"{h.qty}x {scene.product_name(h.sku)}" for h in held[tid])
                _label(p, v.p(anchor[0] + 8, anchor[1] + 12), "holds " + text, QColor(255, 240, 160), 10)
    if layers.link and selected is not None:
        _link(p, v, scene, cam, t, selected, joints, layers.association, detail)


def _bins(p: QPainter, v: View, scene: VisitScene, cam: Camera, selected: Event | None) -> None:
    """Every bin's opening, thin; the bins on the selected event's load cell labelled, its own bin bright."""
    cell = selected.sensor if selected is not None else None
    hot_bin = selected.bin if selected is not None else None
    polys = _bin_polys(scene, cam)
    hot_rows = [(bid, poly, bid == hot_bin) for bid, poly, sensor in polys
                if selected is not None and (bid == hot_bin or sensor == cell)]
    p.save()
    p.translate(v.dx + 0.5 * v.scale, v.dy + 0.5 * v.scale)
    p.scale(v.scale, v.scale)
    pen = QPen(QColor(200, 200, 200, 90), 1.0)
    pen.setCosmetic(True)
    p.setPen(pen)
    p.drawPath(_quiet_bins_path(scene, cam, {bid for bid, _, _ in hot_rows}))
    for bid, poly, hot in hot_rows:
        pen = QPen(QColor(255, 200, 0) if hot else QColor(120, 220, 255, 200), 2.5 if hot else 1.5)
        pen.setCosmetic(True)
        p.setPen(pen)
        p.drawPolygon(poly)
    p.restore()
    for bid, poly, hot in hot_rows:
        if hot or v.scale > 0.8:
            c = poly.boundingRect().center()
            _label(p, v.p(c.x() - 12, c.y()), bid, QColor(255, 200, 0) if hot else QColor(170, 230, 255), 10)


def _bin_polys(scene: VisitScene, cam: Camera) -> list[tuple[str, QPolygonF, str]]:
    cache = scene.__dict__.setdefault("_bin_polys", {})
    if cam.id not in cache:
        by_id = scene.rec.store.bin_by_id
        cache[cam.id] = [(bid, QPolygonF([QPointF(*x) for x in uv]), by_id[bid].sensor)
                         for bid, uv in scene.bins_in(cam)]
    return cache[cam.id]


def _quiet_bins_path(scene: VisitScene, cam: Camera, hot: set[str]) -> QPainterPath:
    """The outlines of every bin but the highlighted ones, as one path in image pixels: one draw call
    instead of one per bin, made once per camera and selection."""
    cache = scene.__dict__.setdefault("_bin_paths", {})
    key = (cam.id, frozenset(hot))
    if key not in cache:
        if len(cache) > 64:
            cache.clear()
        path = QPainterPath()
        for bid, poly, _ in _bin_polys(scene, cam):
            if bid not in hot:
                path.addPolygon(poly)
                path.closeSubpath()
        cache[key] = path
    return cache[key]


def _link(p: QPainter, v: View, scene: VisitScene, cam: Camera, t: float, e: Event, joints: np.ndarray,
          scores: bool, detail: bool) -> None:
    """The selected event: the hand's path into the bin, and a line from the wrist now to the bin."""
    if e.bin is None or e.bin not in scene.rec.store.bin_by_id:
        return
    target, path_uv = _link_pixels(scene, cam, e)
    col = QColor(255, 200, 0)
    if len(path_uv):
        p.setPen(QPen(col, 1.5, Qt.PenStyle.DotLine))
        p.drawPolyline(QPolygonF([v.p(*x) for x in path_uv]))
    ids = scene.track_ids
    if e.track in ids and e.hand in WRIST and abs(t - (e.t0 + e.t1) / 2) < 3.0:
        w = cam.project(joints[ids.index(e.track), WRIST[e.hand]])
        if _ok(w) and _ok(target):
            p.setPen(QPen(col, 2.5))
            p.drawLine(v.p(*w), v.p(*target))
            p.setBrush(col)
            p.drawEllipse(v.p(*w), 4, 4)
            p.setBrush(Qt.BrushStyle.NoBrush)
    if _ok(target) and detail:
        text = f"{e.kind} {scene.product_name(e.sku)} x{e.qty}  {e.confidence:.2f}"
        _label(p, v.p(target[0] + 6, target[1] - 6), text, col, 11)
        if scores and e.shoppers:
            s = "  ".join(f"{a.value}:{a.score:.2f}" for a in e.shoppers[:3])
            _label(p, v.p(target[0] + 6, target[1] + 10), "who: " + s, QColor(180, 230, 255), 10)


def _link_pixels(scene: VisitScene, cam: Camera, e: Event) -> tuple[np.ndarray, np.ndarray]:
    """(the bin's centre, the hand's path) in this camera's pixels; cached per camera and event."""
    cache = scene.__dict__.setdefault("_link_px", {})
    key = (cam.id, e.bin, e.t0, e.track, e.hand)
    if key not in cache:
        if len(cache) > 256:
            cache.clear()
        target = cam.project(scene.bin_corners(e.bin).mean(0))
        uv = cam.project(np.asarray(e.hand_path, float)[:, 1:4]) if e.hand_path else np.zeros((0, 2))
        cache[key] = (target, uv[np.isfinite(uv).all(1)])
    return cache[key]


def _engine_2d(p: QPainter, v: View, scene: VisitScene, cam: Camera, t: float, layers: Layers) -> None:
    cf = scene.camera_frames(cam.id)
    if cf is None:
        return
    ft, boxes, kps = cf.at(t)
    if not np.isfinite(ft) or abs(ft - t) > 0.25:
        return  # the engine looked at this camera at its own ticks; nothing near this frame
    if layers.detections:
        p.setPen(QPen(QColor(0, 255, 255), 1.5))
        for x0, y0, x1, y1 in boxes:
            a, b = v.p(x0, y0), v.p(x1, y1)
            p.drawRect(QRectF(a, b))
    if layers.keypoints:
        p.setPen(QPen(QColor(255, 0, 255), 1.0))
        p.setBrush(QColor(255, 0, 255))
        for kp in kps:
            for u, w_, s in kp:
                if s > 0.1:
                    p.drawEllipse(v.p(u, w_), 2.5, 2.5)
        p.setBrush(Qt.BrushStyle.NoBrush)
    if layers.residuals and len(kps):
        proj = [cam.project(j) for j in scene.joints_at(ft)]
        p.setPen(QPen(QColor(255, 60, 60), 1.5))
        for kp in kps:
            best, err = None, np.inf
            for uv in proj:
                ok = np.isfinite(uv).all(1) & (kp[:, 2] > 0.1)
                if ok.sum() >= 4:
                    d = float(np.median(np.linalg.norm(uv[ok] - kp[ok, :2], axis=1)))
                    if d < err:
                        best, err = uv, d
            if best is None or err > 80:
                continue
            for j in range(17):
                if kp[j, 2] > 0.1 and _ok(best[j]):
                    p.drawLine(v.p(kp[j, 0], kp[j, 1]), v.p(*best[j]))
            c = kp[kp[:, 2] > 0.1, :2].min(0)
            _label(p, v.p(c[0], c[1] - 4), f"reproj {err:.1f} px", QColor(255, 120, 120), 9)
