"""Pictures of a recording for people: all cameras at one moment, and the load cells over time.

The contact sheet decodes each camera's frame nearest the chosen time (cameras
are synchronised by time, not frame index) and draws the truth skeletons over
it when the recording has them, so a glance shows that pixels and truth agree.
"""
from __future__ import annotations

import os
from pathlib import Path

import av
import cv2
import numpy as np

from data.recording import open_recording
from data.world import LIMBS


def frame_at(path: Path, t: float) -> tuple[float, np.ndarray] | None:
    """(time, RGB frame) of the frame nearest t, or None when the stream has none near."""
    best = None
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        c.seek(max(int((t - 1.0) / s.time_base), 0), stream=s, backward=True)
        for f in c.decode(s):
            if f.time is None:
                continue
            d = abs(f.time - t)
            if best is None or d < best[0]:
                best = (d, f.time, f.to_ndarray(format="rgb24"))
            if f.time > t + 0.5:
                break
    return None if best is None else (best[1], best[2])


def busiest_time(rec_root: Path) -> float:
    z = np.load(rec_root / "truth" / "poses.npz")
    present = np.isfinite(z["joints"][:, :, 0, 0]).sum(1)
    return float(z["t"][int(np.argmax(present))])


def contact_sheet(rec_root: Path, t: float | None, out: Path, cols: int = 3, tile_w: int = 480) -> float:
    rec = open_recording(rec_root)
    truth = None
    if rec.has_truth and (rec_root / "truth" / "poses.npz").exists():
        truth = np.load(rec_root / "truth" / "poses.npz")
        if t is None:
            t = busiest_time(rec_root)
    t = rec.duration_s / 2 if t is None else t
    tiles = []
    for cam in rec.cameras:
        got = frame_at(rec.video_path(cam), t) if cam.video else None
        if got is None:
            img = np.zeros((cam.height, cam.width, 3), np.uint8)
            label = f"{cam.id}: no frame at {t:.2f} s"
        else:
            ft, img = got
            img = np.ascontiguousarray(img)
            label = f"{cam.id}  t={ft:.3f} s"
            if truth is not None:
                k = int(np.argmin(np.abs(truth["t"] - ft)))
                for j in truth["joints"][k]:
                    if not np.isfinite(j).all():
                        continue
                    uv = cam.project(j)
                    for a, b in LIMBS:
                        if np.isfinite(uv[[a, b]]).all():
                            cv2.line(img, tuple(np.round(uv[a]).astype(int)), tuple(np.round(uv[b]).astype(int)),
                                     (255, 255, 255), 1, cv2.LINE_AA)
        scale = tile_w / img.shape[1]
        img = cv2.resize(img, (tile_w, int(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        cv2.rectangle(img, (0, 0), (tile_w, 22), (0, 0, 0), -1)
        cv2.putText(img, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(img)
    h = max(x.shape[0] for x in tiles)
    tiles = [np.pad(x, ((0, h - x.shape[0]), (0, 0), (0, 0))) for x in tiles]
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    sheet = np.vstack(rows)
    cv2.imwrite(str(out), sheet[:, :, ::-1])
    return t


def load_cell_plot(rec_root: Path, out: Path, max_cells: int = 4, width: int = 1400) -> None:
    """The busiest load cells over the recording, truth events marked (pyqtgraph, rendered offscreen)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    import pyqtgraph.exporters
    from PySide6 import QtCore
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    rec = open_recording(rec_root)
    series = rec.weights()
    events = rec.truth_events()
    sensor_of = {b.id: b.sensor for b in rec.store.bins}
    count: dict[str, int] = {}
    for e in events:
        if e.get("bin") in sensor_of:
            count[sensor_of[e["bin"]]] = count.get(sensor_of[e["bin"]], 0) + 1
    cells = sorted(series, key=lambda s: -count.get(s, 0))[:max_cells]
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    win = pg.GraphicsLayoutWidget()
    win.resize(width, 220 * len(cells))
    colours = {"take": (200, 30, 30), "put": (30, 120, 200), "restock": (30, 160, 60)}
    for i, sid in enumerate(cells):
        t, g = series[sid]
        p = win.addPlot(row=i, col=0)
        p.setLabel("left", f"{sid} (g)")
        p.plot(t, g, pen=pg.mkPen((60, 60, 60), width=1))
        p.showGrid(x=True, y=True, alpha=0.3)
        lo, hi = float(np.min(g)), float(np.max(g))
        mine = [e for e in events if sensor_of.get(e.get("bin")) == sid]
        for n, e in enumerate(mine):
            c = colours.get(e["kind"], (120, 120, 120))
            p.addItem(pg.InfiniteLine(e["t"], pen=pg.mkPen(c, width=1, style=QtCore.Qt.PenStyle.DashLine)))
            txt = pg.TextItem(f"{e['kind']} {e['sku']}", color=c, anchor=(0, 0))
            txt.setPos(e["t"], hi - (hi - lo) * 0.18 * (n % 4))
            p.addItem(txt)
        if i == len(cells) - 1:
            p.setLabel("bottom", "time (s)")
    win.show()
    app.processEvents()
    ex = pyqtgraph.exporters.ImageExporter(win.scene())
    ex.parameters()["width"] = width
    ex.export(str(out))


def store_map(rec_root: Path, out: Path, px_per_m: int = 60) -> None:
    """Top-down plan: floor, shelves and bins (coloured by load cell), gates, cameras and where they look."""
    rec = open_recording(rec_root)
    store = rec.store
    x0, y0, x1, y1 = store.bounds
    pad = 40
    W, H = int((x1 - x0) * px_per_m) + 2 * pad, int((y1 - y0) * px_per_m) + 2 * pad + 30

    def px(x: float, y: float) -> tuple[int, int]:  # y grows up on the plan, down in the image
        return int(pad + (x - x0) * px_per_m), int(pad + (y1 - y) * px_per_m)

    img = np.full((H, W, 3), 255, np.uint8)
    poly = np.array([px(x, y) for x, y in store.floor], np.int32)
    cv2.fillPoly(img, [poly], (238, 234, 226))
    cv2.polylines(img, [poly], True, (40, 40, 40), 2)
    for g in store.gates:
        (a, b), (c, d) = g.zone
        col = (70, 170, 90) if g.kind == "entry" else (200, 70, 70)
        cv2.rectangle(img, px(a, b), px(c, d), col, 2)
        cv2.putText(img, g.id, px(min(a, c), max(b, d) + 0.05), cv2.FONT_HERSHEY_SIMPLEX, 0.4, col, 1, cv2.LINE_AA)
    rng = np.random.default_rng(0)
    cell_col = {s.id: tuple(int(v) for v in rng.integers(60, 220, 3)) for s in store.sensors}
    for s in store.shelves:
        cv2.rectangle(img, px(s.min[0], s.min[1]), px(s.max[0], s.max[1]), (150, 150, 150), -1)
    for b in store.bins:
        cv2.rectangle(img, px(b.min[0], b.min[1]), px(b.max[0], b.max[1]), cell_col[b.sensor], 1)
    for cam in rec.cameras:
        c = cam.center
        look = cam.R[2]
        tip = c[:2] + look[:2] / (np.linalg.norm(look[:2]) or 1.0) * 0.6
        cv2.arrowedLine(img, px(*c[:2]), px(*tip), (160, 40, 160), 2, cv2.LINE_AA, tipLength=0.3)
        cv2.circle(img, px(*c[:2]), 5, (160, 40, 160), -1)
        cv2.putText(img, cam.id, px(c[0] + 0.1, c[1] + 0.1), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (120, 30, 120), 1,
                    cv2.LINE_AA)
    cv2.putText(img, f"{rec.store_name}: {len(store.bins)} bins on {len(store.sensors)} load cells "
                     f"(bins outlined by cell), {len(rec.cameras)} cameras", (10, H - 12),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (30, 30, 30), 1, cv2.LINE_AA)
    cv2.imwrite(str(out), img[:, :, ::-1])
