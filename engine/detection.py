"""Stage 2, person detection: the people in one camera frame, as `engine.types.Detection`.

Usage::

    det = PersonDetector(rec, cam)           # or PersonDetector(store, cam); cam a Camera or its id
    det.prime(stream)                        # colour-only cameras: learn the empty store first (optional)
    for frame in stream.iter_frames():       # engine.frames.CameraStream, in time order
        people = det(frame)                  # list[Detection]

`PersonDetector` picks the method per frame: depth when the frame has a depth image,
colour otherwise. `DepthDetector(store, cam)(depth_mm, t)` and
`ColourDetector(store, cam)(rgb, t)` are the two methods on their own. Parameters are
plain dataclasses (`DepthParams`, `ColourParams`); their defaults were tuned on
simulated corner-store recordings (see tests/test_detection.py for the scoring).

**With depth** (`DepthDetector`, ~1.5-3 ms a 640x480 frame on one core; fed in time order, it remembers the last frame).
Every pixel of a grid of about 320 columns (every 2nd pixel at 640x480) has a
precomputed ray; a depth d (mm along the camera's z axis) puts the point at
`C + ray * d / 1000 / cos(angle to the optical axis)`. Per pixel we also precompute the
depth interval in which a point is *foreground*: below the 2.3 m ceiling plane, at
least 0.12 m above the floor, and in front of every shelf box inflated by 5 cm, so two
uint16 comparisons segment a frame. Foreground points on the floor polygon go into a
top-down grid (8 cm cells) of visible surface (each pixel weighs the m^2 it covers at
its depth, so near and far people count alike) and of highest point. Blobs are the
grid's connected components after a one-cell dilation, so people side by side in the
image but apart on the floor are apart here. A blob wider than 0.7 m is split between
head cells (local height maxima above 0.9 m, so that two people crouching side by side at a
low shelf count too; 0.4 m or more apart, with the top surface sagging by 0.12 m or more
between them: two heads, not a bent back). A shopper squatting at a bottom shelf beside a
taller one splits off at a lower head cell (from 0.6 m) when it is 0.55 m or more from every
taller head: nearer, it is the same body bent over (with low head cells at the 0.4 m spacing,
false people in the go-store doubled). Two low head cells never split from each other, since one
squatter often shows two (head and knees); two squatters side by side stay one blob. A blob is a person
when it shows enough surface (0.05 m^2) and its top (98th percentile of height) is
0.5-2.25 m (a shopper squatting at a bottom shelf is about 0.65 m tall; with the old 0.8 m floor
most of them vanished while their hand was in the bin); so a person half hidden by a shelf is still
found from what shows above it.
The box is the blob's pixels' box (full-resolution pixels), `height_m` the top, `foot`
the median floor point under the head and shoulders (the top 0.45 m, which overhead
cameras nearly always see; all points for a bent or crouching person) pushed 8 cm away
from the camera (we see people's near side), z = 0.
Someone crouching at a low shelf beside a standing neighbour merges into the neighbour's blob,
often with no head peak of their own; but they were found apart a moment before, and people do
not merge: a blob holding two or more of the last frame's people (within `memory_s`, 0.3 m
apart) is split between them, cell by cell to the nearest, when each part shows a person's
surface and a top of its own, away from the border and 0.3 m from the others' (half of one body
has neither), and one part stands upright (a body bent over shows two low tops). A split part
remembers its top, not its border-skewed middle, for the next frame.
A hand in a bin is inside a shelf, not foreground, so the box stops short of a reaching arm;
`reach_in_m` (off by default: measured in docs/benchmarks.md, issue 3, session 21) grows it over the arm.

**Colour only** (`ColourDetector`, stateful; ~5-10 ms a frame). A per-pixel background
(RGB, about 320 columns) is primed with the per-pixel median of frames spread over the
recording (`prime`) and then learnt as a running average, fast where nobody is and very
slowly under people. A global lighting gain (median ratio of frame to background) scales
the background before differencing, saturation included; then morphology. People are
then found as in a probabilistic occupancy map, greedily: every floor cell (10 cm) where
someone could stand has a person model, a 1.78 m cylinder projected as six stacked
rectangles (so that people leaning in a wide-angle image still fit), with its pixels
that shelves hide removed. The cell whose model's visible pixels are most covered by
foreground (at least half) is a person; its pixels then count as explained, and the
next best cell at least 0.45 m away is scored on what is left, and so on. The box is
the box of the foreground inside the person's model, `foot` the score-weighted cell
position, `height_m` None. A blackout or a view that mostly changed at once gives no
detections (and is not learnt, unless it lasts). Expect it to be clearly worse than depth
(merged people in a column, people leaning at the image edges, crouching people).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

import cv2
import numpy as np

from data.cameras import Camera
from data.recording import Recording
from data.store import Store
from engine.types import Detection


@dataclass
class DepthParams:
    step: int = 0  # pixel grid step (0: auto, about 320 columns: 2 at 640x480, 1 at 320x240)
    floor_clear_m: float = 0.12  # points lower than this are floor
    ceiling_m: float = 2.3  # points higher than this are not people
    shelf_margin_m: float = 0.05  # shelves are inflated by this much
    noise_mm: float = 25.0  # a point must be this much in front of a shelf/floor surface
    cell_m: float = 0.08  # floor grid cell
    cell_min_area_m2: float = 0.002  # a cell with less visible surface than this is noise
    min_area_m2: float = 0.05  # a person shows at least this much surface
    min_points: int = 25
    min_height_m: float = 0.5  # people squatting at a bottom shelf go down to ~0.6 m
    max_height_m: float = 2.25
    split_width_m: float = 0.7  # a blob wider than this on the floor may be several people ...
    split_sep_m: float = 0.4  # ... whose heads are at least this far apart
    split_dip_m: float = 0.12  # ... with the top surface this much lower between them
    split_min_top_m: float = 0.9  # ... both at least this tall (crouching people's heads are at ~1 m) ...
    split_low_top_m: float = 0.6  # ... or, for someone squatting at a bottom shelf beside a taller person, this tall ...
    split_low_sep_m: float = 0.55  # ... with their head this far from every taller head (a bent body's hips are nearer)
    split_low_pairs: bool = False  # two such low tops split from each other (no: one squatter often shows two)
    top_band_m: float = 0.45  # the foot is under the points this close to the top (head, shoulders) ...
    upright_m: float = 1.35  # ... when the blob is this tall (lower: bent or crouching, all its points)
    away_m: float = 0.08  # ... pushed this far away from the camera (we see people's near side)
    memory_s: float = 0.5  # people found apart this long ago who now share one blob are split apart again (0: off)
    memory_sep_m: float = 0.3  # ... when they were this far apart, and each part's highest point is as far from the others'
    memory_upright_m: float = 1.5  # ... and one part is this tall (someone standing; a bent body's back is lower)
    reach_near_m: float = 0.15  # a person's points this near a shelf (across the floor, within its height) ...
    reach_out_m: float = 0.25  # ... and this much nearer it than their head and shoulders ...
    reach_in_m: float = 0.0  # ... are an arm going in: the box takes them as if this much further in (0: off;
    # 0.15 found the reaching wrist better in 2D but gave neighbours more false hands: docs/benchmarks.md, session 21)


@dataclass
class ColourParams:
    scale: int = 0  # work at 1/scale resolution (0: auto, about 320 columns)
    diff: float = 28.0  # grey levels (any channel) from the background
    learn: float = 0.03  # background learning rate per frame, where nobody is
    learn_fg: float = 0.0015  # ... and where somebody seems to be (ghosts fade in ~1 min at 15 fps)
    cell_m: float = 0.1  # floor grid where people may stand
    min_in_image: float = 0.4  # share of a person's model that must fall in the image
    min_visible: float = 0.3  # ... and not be hidden by shelves or people found before
    min_fill: float = 0.5  # share of a person model's visible pixels that must be foreground
    min_sep_m: float = 0.45  # people's floor points are at least this far apart
    max_people: int = 30
    max_changed: float = 0.5  # more of the view than this differing: not people but a changed view ...
    relearn_after: int = 30  # ... which, after this many frames in a row, becomes the background


def _grid_rays(cam: Camera, us: np.ndarray, vs: np.ndarray) -> np.ndarray:
    """Unit world-frame rays (len(vs), len(us), 3) through the pixels (u, v) of a grid, distortion included."""
    uu, vv = np.meshgrid(np.asarray(us, np.float64), np.asarray(vs, np.float64))
    pix = np.stack([uu, vv], -1).reshape(-1, 1, 2)
    n = cv2.undistortPoints(pix, cam.K, cam.dist).reshape(-1, 2)
    d = np.concatenate([n, np.ones((len(n), 1))], 1) @ cam.R  # R^T d, row by row
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return d.reshape(len(vs), len(us), 3)


def _ray_boxes(C: np.ndarray, d: np.ndarray, boxes: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Distance along unit rays d (N, 3) from C to the first box they enter (0 when C is inside; inf: none)."""
    best = np.full(len(d), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        for lo, hi in boxes:
            t1, t2 = (np.asarray(lo, float) - C) * inv, (np.asarray(hi, float) - C) * inv
            tn, tf = np.fmin(t1, t2).max(1), np.fmax(t1, t2).min(1)
            hit = (tn <= tf) & (tf > 0)
            best = np.where(hit, np.minimum(best, np.maximum(tn, 0.0)), best)
    return best


def _in_polygon(x: np.ndarray, y: np.ndarray, poly) -> np.ndarray:
    """Even-odd point-in-polygon test for many points."""
    poly = np.asarray(poly, float)
    inside = np.zeros(np.shape(x), bool)
    for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0)):
        if y0 == y1:
            continue
        cross = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= cross & (x < xc)
    return inside


class DepthDetector:
    """People from a depth frame (see the module doc); remembers the last frame's people (`memory_s`)."""

    def __init__(self, store: Store, cam: Camera, params: DepthParams | None = None) -> None:
        self.store, self.camera = store, cam
        p = params or DepthParams()
        if p.step <= 0:
            p = replace(p, step=max(1, int(round(cam.width / 320))))
        self.p = p
        s = p.step
        rays = _grid_rays(cam, np.arange(0, cam.width, s), np.arange(0, cam.height, s))  # (h, w, 3)
        self.shape = rays.shape[:2]
        self.C = cam.center.astype(np.float64)
        cosz = rays @ cam.R[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            a = rays / np.where(cosz > 1e-6, cosz, np.nan)[..., None] / 1000.0  # world metres per depth mm
        self._A = np.nan_to_num(a).reshape(-1, 3).astype(np.float32)
        vv, uu = np.meshgrid(np.arange(0, cam.height, s), np.arange(0, cam.width, s), indexing="ij")
        self._u = uu.ravel().astype(np.int32)
        self._v = vv.ravel().astype(np.int32)
        # surface each pixel covers, per mm^2 of depth: (s * z / f)^2
        f = float((cam.K[0, 0] + cam.K[1, 1]) / 2)
        self._area_k = (s / f / 1000.0) ** 2
        self._lo, self._hi = self._intervals(rays.reshape(-1, 3), cosz.reshape(-1))
        # floor grid
        x0, y0, x1, y1 = store.bounds
        self._g0 = np.array([x0, y0])
        self._gw = int(np.ceil((x1 - x0) / p.cell_m)) + 1
        self._gh = int(np.ceil((y1 - y0) / p.cell_m)) + 1
        cx = x0 + (np.arange(self._gw) + 0.5) * p.cell_m
        cy = y0 + (np.arange(self._gh) + 0.5) * p.cell_m
        gx, gy = np.meshgrid(cx, cy)
        self._inside = _in_polygon(gx.ravel(), gy.ravel(), store.floor)  # (gh * gw,) cells on the floor
        self._kernel = np.ones((3, 3), np.uint8)
        r = max(1, int(round(p.split_sep_m / 2 / p.cell_m)))
        self._peak_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        self._away = p.away_m
        self._mem: tuple[float, np.ndarray] | None = None  # (t, floor points of the people found then)
        self._shelves = np.array([[sh.min, sh.max] for sh in store.shelves], float).reshape(-1, 2, 3)

    def _intervals(self, d: np.ndarray, cosz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per pixel, depths (mm, exclusive) between which a point is foreground: (lo, hi) uint16."""
        p, C = self.p, self.C
        n = len(d)
        dz = d[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            # distance along the ray to a horizontal plane at height h
            def plane(h: float) -> np.ndarray:
                return np.where(np.abs(dz) > 1e-9, (h - C[2]) / dz, np.inf)
            s_top, s_floor = plane(p.ceiling_m), plane(p.floor_clear_m)
        if C[2] > p.ceiling_m:
            lo = np.where(dz < 0, s_top, np.inf)  # looking up: never reaches the people layer
            hi = np.where(dz < 0, s_floor, 0.0)
        elif C[2] > p.floor_clear_m:
            lo = np.zeros(n)
            hi = np.where(dz < 0, s_floor, np.where(dz > 0, s_top, np.inf))
        else:
            lo, hi = np.full(n, np.inf), np.zeros(n)
        m = p.shelf_margin_m
        shelves = [(np.asarray(sh.min, float) - m, np.asarray(sh.max, float) + m) for sh in self.store.shelves]
        hi = np.minimum(hi, _ray_boxes(C, d, shelves))
        mm = 1000.0 * cosz
        lo_mm = np.where(np.isfinite(lo), lo * mm, 65535)
        hi_mm = np.where(np.isfinite(hi), hi * mm, 65535) - p.noise_mm
        ok = (cosz > 1e-6) & (hi_mm > lo_mm)
        lo_mm = np.where(ok, np.clip(np.floor(lo_mm), 0, 65535), 65535)  # d > lo (so d = 0 never passes)
        hi_mm = np.where(ok, np.clip(np.ceil(hi_mm), 0, 65535), 0)
        return lo_mm.astype(np.uint16), hi_mm.astype(np.uint16)

    def points(self, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Foreground points of a depth frame: (pixel indices into the step grid, world xyz (N, 3), area m^2)."""
        s = self.p.step
        d = depth[::s, ::s].reshape(-1) if s > 1 else depth.reshape(-1)
        idx = np.flatnonzero((d > self._lo) & (d < self._hi))
        dm = d[idx].astype(np.float32)
        xyz = self.C.astype(np.float32) + self._A[idx] * dm[:, None]
        area = dm * dm * np.float32(self._area_k)
        return idx, xyz, area

    def __call__(self, depth: np.ndarray, t: float = 0.0) -> list[Detection]:
        p = self.p
        if depth.shape != (self.camera.height, self.camera.width):
            raise ValueError(f"camera {self.camera.id}: depth frame {depth.shape}, expected "
                             f"{(self.camera.height, self.camera.width)}")
        idx, xyz, area = self.points(depth)
        if len(idx) < p.min_points:
            return []
        gx = ((xyz[:, 0] - self._g0[0]) / p.cell_m).astype(np.int32)
        gy = ((xyz[:, 1] - self._g0[1]) / p.cell_m).astype(np.int32)
        ok = (gx >= 0) & (gy >= 0) & (gx < self._gw) & (gy < self._gh)
        cell = gy * self._gw + gx
        ok[ok] = self._inside[cell[ok]]
        if not ok.all():
            idx, xyz, area, cell = idx[ok], xyz[ok], area[ok], cell[ok]
        if len(idx) < p.min_points:
            return []
        occ_area, top = self.floor_maps(cell, xyz, area)
        labels, n = self._segment(occ_area, top)
        if n <= 1:
            self._mem = (float(t), np.zeros((0, 2)))
            return []
        labels, n, peaks = self._split_by_memory(labels, n, occ_area.ravel(), top.ravel(), float(t))
        found: list[tuple[float, float]] = []
        lab = labels[cell]
        order = np.argsort(lab, kind="stable")
        bounds = np.searchsorted(lab[order], np.arange(n + 1))
        out: list[Detection] = []
        away = self._away
        for k in range(1, n):
            sel = order[bounds[k]:bounds[k + 1]]
            if len(sel) < p.min_points:
                continue
            a = float(area[sel].sum())
            if a < p.min_area_m2:
                continue
            z = xyz[sel, 2]
            h = float(np.percentile(z, 98))
            if not p.min_height_m <= h <= p.max_height_m:
                continue
            u, v = self._u[idx[sel]], self._v[idx[sel]]
            box = (int(u.min()), int(v.min()), int(min(u.max() + p.step, self.camera.width)),
                   int(min(v.max() + p.step, self.camera.height)))
            upper = z >= h - p.top_band_m  # head and shoulders
            if p.reach_in_m > 0:
                box = self._with_reach(box, xyz[sel], upper)
            # the floor point under the head and shoulders (almost always in view from above), pushed
            # away from the camera by half a body: we see the near side of people
            top = sel[upper] if h >= p.upright_m else sel
            fx, fy = float(np.median(xyz[top, 0])), float(np.median(xyz[top, 1]))
            found.append(tuple(peaks[k]) if k in peaks else (fx, fy))  # (a split part's border drifts)
            dx, dy = fx - self.C[0], fy - self.C[1]
            r = np.hypot(dx, dy)
            if r > 1e-6:
                fx, fy = fx + away * dx / r, fy + away * dy / r
            s_area = 1.0 - np.exp(-a / 0.12)
            s_h = float(np.clip((h - p.min_height_m) / 0.35, 0, 1))
            out.append(Detection(self.camera.id, float(t), box, float(round(s_area * s_h, 4)),
                                 np.array([fx, fy, 0.0]), float(round(h, 3))))
        self._mem = (float(t), np.array(found).reshape(-1, 2))
        return out

    def _with_reach(self, box: tuple[int, int, int, int], pts: np.ndarray, upper: np.ndarray
                    ) -> tuple[int, int, int, int]:
        """The box grown over where an arm at a shelf goes in.

        Points inside a shelf (and its margin) are not foreground, so a hand in a bin, with the end of its
        forearm, is not in the blob: the box stops short of it, and so does the pose crop cut around the box (the
        pose network was trained on boxes around all of the visible figure). A person's points within
        `reach_near_m` of a shelf, across the floor, and `reach_out_m` nearer it than their head and shoulders
        (`upper`: an arm held out, not a body standing close), are taken `reach_in_m` further in as well."""
        p = self.p
        if not len(self._shelves) or not len(pts):
            return box
        lo, hi = self._shelves[:, 0], self._shelves[:, 1]  # (S, 3)
        P = pts.astype(float)
        q = np.clip(P[:, None, :2], lo[None, :, :2], hi[None, :, :2])  # nearest footprint point (N, S, 2)
        d = np.linalg.norm(q - P[:, None, :2], axis=-1)
        at_height = np.where((P[:, None, 2] < lo[None, :, 2]) | (P[:, None, 2] > hi[None, :, 2]), np.inf, d)
        s_near = np.argmin(at_height, axis=1)  # the nearest shelf at the point's height
        dn = at_height[np.arange(len(P)), s_near]
        # how far the head and shoulders are from that shelf (across the floor, whatever their height)
        body = (np.median(d[upper], axis=0) if upper.any() else np.full(len(lo), np.inf))[s_near]
        near = (dn > 1e-6) & (dn <= p.reach_near_m) & (dn <= body - p.reach_out_m)
        if not near.any():
            return box
        P = P[near]
        direction = (q[near, s_near[near]] - P[:, :2]) / dn[near, None]
        inside = P.copy()
        inside[:, :2] += direction * (dn[near, None] + p.reach_in_m)
        uv = self.camera.project(inside)
        uv = uv[np.isfinite(uv).all(1)]
        if not len(uv):
            return box
        W, H = self.camera.width, self.camera.height
        x0, y0 = int(max(min(box[0], np.floor(uv[:, 0].min())), 0)), int(max(min(box[1], np.floor(uv[:, 1].min())), 0))
        x1 = int(min(max(box[2], np.ceil(uv[:, 0].max()) + 1), W))
        y1 = int(min(max(box[3], np.ceil(uv[:, 1].max()) + 1), H))
        return x0, y0, x1, y1

    def _split_by_memory(self, labels: np.ndarray, n: int, occ_area: np.ndarray, top: np.ndarray, t: float
                         ) -> tuple[np.ndarray, int, dict[int, np.ndarray]]:
        """Split a blob that holds two or more people found in the last frame (within `memory_s`).

        Someone crouching at a low shelf beside a standing neighbour is one blob with them in the
        height map, and their head is often no peak of its own (the neighbour's shoulders are higher):
        the head rules, which keep a body bent over from counting twice, cannot split them. But they
        were apart a moment before, and people do not merge. Each cell of the blob goes to the nearest
        of the remembered people; a part counts when it shows a person's surface and top, its highest
        point (away from the border) `memory_sep_m` from every other part's (half of one body does not),
        and one of them stands upright (a body bent over a low shelf shows two low tops, head and back).

        occ_area and top are the flat floor maps; returns the labels, their count, and per label of a split
        part its top (remembered for the next frame instead of its middle)."""
        p = self.p
        split_tops: dict[int, np.ndarray] = {}
        if self._mem is None or p.memory_s <= 0 or not 0 < t - self._mem[0] <= p.memory_s or len(self._mem[1]) < 2:
            return labels, n, split_tops
        pts = self._mem[1]
        gx = ((pts[:, 0] - self._g0[0]) / p.cell_m).astype(int)
        gy = ((pts[:, 1] - self._g0[1]) / p.cell_m).astype(int)
        grid = labels.reshape(self._gh, self._gw)
        lab_of = []
        for x, y in zip(gx, gy):
            win = grid[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].ravel()
            win = win[win > 0]
            lab_of.append(int(np.bincount(win).argmax()) if len(win) else 0)
        lab_of = np.array(lab_of)
        nxt = n
        for k in np.unique(lab_of[lab_of > 0]):
            seeds = pts[lab_of == k]
            keep = [0]
            for i in range(1, len(seeds)):
                if all(np.linalg.norm(seeds[i] - seeds[j]) >= p.memory_sep_m for j in keep):
                    keep.append(i)
            if len(keep) < 2:
                continue
            seeds = seeds[keep]
            cells = np.flatnonzero(labels == k)
            cy, cx = np.divmod(cells, self._gw)
            cxy = self._g0 + (np.stack([cx, cy], 1) + 0.5) * p.cell_m
            dist = np.linalg.norm(cxy[:, None] - seeds[None], axis=-1)
            near = np.argmin(dist, axis=1)
            # a part's own top: its highest cell away from the border with the others (a neighbour's
            # shoulder just over the border is not this part's)
            ds = np.sort(dist, axis=1)
            inner = ds[:, 1] - ds[:, 0] >= 2 * p.cell_m
            peaks: list[np.ndarray | None] = []
            heights: list[float] = []
            for j in range(len(seeds)):
                mine = cells[near == j]
                core = (near == j) & inner
                h = float(top[cells[core]].max()) if core.any() else 0.0
                heights.append(h)
                if not core.any() or occ_area[mine].sum() < p.min_area_m2 or h < p.min_height_m:
                    peaks.append(None)
                    continue
                peaks.append(cxy[core][int(np.argmax(top[cells[core]]))])
            good = [j for j in range(len(seeds)) if peaks[j] is not None and all(
                np.linalg.norm(peaks[j] - peaks[i]) >= p.memory_sep_m for i in range(len(seeds))
                if i != j and peaks[i] is not None)]
            if len(good) < 2 or max(heights[j] for j in good) < p.memory_upright_m:
                continue  # nobody standing: a body bent over shows two tops too (head and back)
            d = np.linalg.norm(cxy[:, None] - seeds[good][None], axis=-1)
            near = np.argmin(d, axis=1)
            split_tops[int(k)] = peaks[good[0]]
            for j in range(1, len(good)):
                labels[cells[near == j]] = nxt
                split_tops[nxt] = peaks[good[j]]
                nxt += 1
        return labels, nxt, split_tops

    def floor_maps(self, cell: np.ndarray, xyz: np.ndarray, area: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-down (gh, gw) maps of visible surface (m^2) and highest point (m) per floor cell."""
        G = self._gh * self._gw
        occ_area = np.bincount(cell, weights=area, minlength=G)
        top = np.zeros(G, np.float32)
        np.maximum.at(top, cell, xyz[:, 2])
        return occ_area.reshape(self._gh, self._gw), top.reshape(self._gh, self._gw)

    def _dips(self, top: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> bool:
        """Whether the top surface sags between two head cells (two people), not a bent back (one).

        Along the line between them, an empty cell between occupied ones (sparse points) takes the
        lower of its nearest neighbours on the line; a run of 3 or more empty cells is a real gap.
        """
        n = int(max(abs(a[0] - b[0]), abs(a[1] - b[1])))
        if n < 2:
            return False
        w = np.linspace(0, 1, n + 1)
        yy = np.round(a[0] + w * (b[0] - a[0])).astype(int)
        xx = np.round(a[1] + w * (b[1] - a[1])).astype(int)
        line = top[yy, xx].astype(float)
        full = np.flatnonzero(line > 0)
        if len(full) < 2:
            return False
        i = np.arange(len(line))
        left = full[np.clip(np.searchsorted(full, i, side="right") - 1, 0, len(full) - 1)]
        right = full[np.clip(np.searchsorted(full, i), 0, len(full) - 1)]
        fill = (line == 0) & (right - left <= 3)
        line[fill] = np.minimum(line[left[fill]], line[right[fill]])
        return float(line[1:-1].min()) <= min(line[0], line[-1]) - self.p.split_dip_m

    def _segment(self, occ_area: np.ndarray, top: np.ndarray) -> tuple[np.ndarray, int]:
        """Label per floor cell (flat, 0: nobody) and the label count: blobs of the floor maps, split at heads."""
        p = self.p
        occ = (occ_area >= p.cell_min_area_m2).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(occ, self._kernel), connectivity=8)
        labels = labels.ravel()
        if n <= 1:
            return labels, n
        big = np.flatnonzero(np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT])
                             * p.cell_m > p.split_width_m) + 1
        if not len(big):
            return labels, n
        # heads: cells highest within split_sep/2 around them
        top_occ = np.where(occ > 0, top, 0)
        peak = (top_occ >= cv2.dilate(top_occ, self._peak_kernel)) & (top_occ >= min(p.split_min_top_m,
                                                                                     p.split_low_top_m))
        pk = np.flatnonzero(peak.ravel())
        if len(pk) < 2:
            return labels, n
        pk_lab = labels[pk]
        sep2 = (p.split_sep_m / p.cell_m) ** 2
        low_sep2 = (p.split_low_sep_m / p.cell_m) ** 2
        nxt = n
        for k in big:
            cand = pk[pk_lab == k]
            if len(cand) < 2:
                continue
            cand = cand[np.argsort(-top.ravel()[cand])]
            cy, cx = np.divmod(cand, self._gw)
            keep: list[int] = []
            low = top.ravel()[cand] < p.split_min_top_m
            for i in range(len(cand)):
                if low[i] and not p.split_low_pairs and (not keep or low[keep].any()):
                    continue
                if all((cy[i] - cy[j]) ** 2 + (cx[i] - cx[j]) ** 2 >= (low_sep2 if low[i] else sep2)
                       and self._dips(top, (cy[i], cx[i]), (cy[j], cx[j])) for j in keep):
                    keep.append(i)
            if len(keep) < 2:
                continue
            cells = np.flatnonzero(labels == k)
            yy, xx = np.divmod(cells, self._gw)
            d2 = (yy[:, None] - cy[keep][None]) ** 2 + (xx[:, None] - cx[keep][None]) ** 2
            near = np.argmin(d2, axis=1)
            # a head whose share of the blob has too little surface (a raised arm) is no person
            share = np.bincount(near, weights=occ_area.ravel()[cells], minlength=len(keep))
            good = share >= p.min_area_m2
            if good.sum() < 2:
                continue
            d2[:, ~good] = np.iinfo(np.int64).max
            near = np.argmin(d2, axis=1)
            for j in np.flatnonzero(good)[1:]:
                labels[cells[near == j]] = nxt
                nxt += 1
        return labels, nxt

# a standing person as slices of a vertical cylinder (z0, z1, half-width m): feet to head
_PARTS_M = ((0.0, 0.3, 0.13), (0.3, 0.6, 0.14), (0.6, 0.9, 0.18), (0.9, 1.2, 0.22), (1.2, 1.45, 0.23),
            (1.45, 1.78, 0.12))


class ColourDetector:
    """People from colour frames by background subtraction; stateful (see the module doc)."""

    def __init__(self, store: Store, cam: Camera, params: ColourParams | None = None) -> None:
        self.store, self.camera = store, cam
        p = params or ColourParams()
        if p.scale <= 0:
            p = replace(p, scale=max(1, int(round(cam.width / 320))))
        self.p = p
        S = p.scale
        self.size = (cam.width // S, cam.height // S)
        w, h = self.size
        self.bg: np.ndarray | None = None  # (h, w, 3) float32 RGB
        self.gain = 1.0  # the last frame's lighting gain relative to the background
        self._changed = 0  # frames in a row where most of the view differs from the background
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self._grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
        # the static scene's depth (m along the camera's z) at the working resolution
        rays = _grid_rays(cam, np.arange(w) * S + (S - 1) / 2, np.arange(h) * S + (S - 1) / 2)
        d = rays.reshape(-1, 3)
        C = cam.center
        with np.errstate(divide="ignore", invalid="ignore"):
            t_floor = np.where(d[:, 2] < -1e-9, -C[2] / d[:, 2], np.inf)
        shelves = [(s_.min, s_.max) for s_ in store.shelves]
        t_static = np.minimum(t_floor, _ray_boxes(C, d, shelves))
        bg_z = (t_static * (d @ cam.R[2])).reshape(h, w)
        self._cells, self._rects, self._vis, self._area = self._person_models(bg_z)
        r, W1 = self._rects, w + 1  # flat indices of the rectangles' corners in a (h+1, w+1) integral image
        self._corners = (r[..., 1] * W1 + r[..., 0], r[..., 1] * W1 + r[..., 2], r[..., 3] * W1 + r[..., 0],
                         r[..., 3] * W1 + r[..., 2])

    def _person_models(self, bg_z: np.ndarray):
        """Floor cells where a person could stand and be seen, with their parts' rectangles and visible pixels."""
        p, cam, S = self.p, self.camera, self.p.scale
        w, h = self.size
        x0, y0, x1, y1 = self.store.bounds
        cm = p.cell_m
        gx, gy = np.meshgrid(np.arange(x0 + cm / 2, x1, cm), np.arange(y0 + cm / 2, y1, cm))
        xy = np.stack([gx.ravel(), gy.ravel()], 1)
        ok = _in_polygon(xy[:, 0], xy[:, 1], self.store.floor)
        for s_ in self.store.shelves:
            ok &= ~((xy[:, 0] > s_.min[0] - 0.1) & (xy[:, 0] < s_.max[0] + 0.1)
                    & (xy[:, 1] > s_.min[1] - 0.1) & (xy[:, 1] < s_.max[1] + 0.1))
        xy = xy[ok]
        n = len(xy)
        rects = np.zeros((n, len(_PARTS_M), 4), np.int32)  # u0, v0, u1, v1 (exclusive), working pixels
        full = np.zeros((n, len(_PARTS_M)))
        zc = np.zeros((n, len(_PARTS_M)))
        good = np.ones(n, bool)
        f = float(cam.K[0, 0]) / S
        for k, (z0, z1, hw) in enumerate(_PARTS_M):
            pts = np.stack([np.c_[xy, np.full(n, z0)], np.c_[xy, np.full(n, z1)]], 1)  # (n, 2, 3) the axis
            uv = (cam.project(pts) - (S - 1) / 2) / S  # full-resolution pixels to working pixels
            good &= np.isfinite(uv).all((1, 2))
            uv = np.nan_to_num(uv, nan=-1e6)
            zc[:, k] = cam.to_camera(np.c_[xy, np.full(n, (z0 + z1) / 2)])[:, 2]
            r = f * hw / np.maximum(zc[:, k], 0.1)  # the cylinder's half-width in pixels
            lo, hi = uv.min(1) - r[:, None], uv.max(1) + r[:, None]
            full[:, k] = np.maximum(hi[:, 0] - lo[:, 0], 0) * np.maximum(hi[:, 1] - lo[:, 1], 0)
            rects[:, k, 0] = np.clip(np.floor(lo[:, 0] + 0.5), 0, w)
            rects[:, k, 1] = np.clip(np.floor(lo[:, 1] + 0.5), 0, h)
            rects[:, k, 2] = np.clip(np.ceil(hi[:, 0] + 0.5), 0, w)
            rects[:, k, 3] = np.clip(np.ceil(hi[:, 1] + 0.5), 0, h)
        area = ((rects[..., 2] - rects[..., 0]) * (rects[..., 3] - rects[..., 1])).astype(float)
        good &= (zc > 0.3).all(1) & (area.sum(1) >= p.min_in_image * np.maximum(full.sum(1), 1)) & (area.sum(1) >= 20)
        # pixels of each part not hidden by a shelf: integral images of "the scene is farther than L"
        levels = np.geomspace(0.3, 30.0, 40)
        lvl = np.clip(np.searchsorted(levels, zc - 0.15) - 1, 0, len(levels) - 1)
        vis = np.zeros((n, len(_PARTS_M)))
        for L in np.unique(lvl[good]):
            I = cv2.integral((bg_z > levels[L]).astype(np.uint8))
            m = good[:, None] & (lvl == L)
            r = rects[m]
            vis[m] = I[r[:, 3], r[:, 2]] - I[r[:, 1], r[:, 2]] - I[r[:, 3], r[:, 0]] + I[r[:, 1], r[:, 0]]
        good &= vis.sum(1) >= p.min_visible * np.maximum(area.sum(1), 1)
        return xy[good], rects[good], vis[good], area[good]

    def _rect_sums(self, I: np.ndarray, corners: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
        """(cells, parts) sums of an integral image over the person models' rectangles."""
        a, b, c, d = self._corners if corners is None else corners
        f = I.ravel()
        return (f.take(d) - f.take(b) - f.take(c) + f.take(a)).astype(np.float64)

    def _small(self, rgb: np.ndarray) -> np.ndarray:
        if self.p.scale == 1:
            return rgb.astype(np.float32)
        return cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA).astype(np.float32)

    def prime(self, frames: Iterable[np.ndarray]) -> None:
        """Start the background as the per-pixel median of these RGB frames (spread over time)."""
        small = [self._small(f) for f in frames if f is not None]
        if small:
            self.bg = np.median(np.stack(small), axis=0).astype(np.float32)

    def _estimate_gain(self, img: np.ndarray) -> float:
        f = img[::3, ::3].reshape(-1, 3).sum(1)
        b = self.bg[::3, ::3].reshape(-1, 3).sum(1)
        ok = (b > 60) & (f < 3 * 245) & (f > 15)
        if ok.sum() < 100:
            return 1.0
        return float(np.median(f[ok] / b[ok]))

    def foreground(self, rgb: np.ndarray) -> np.ndarray:
        """(h, w) uint8 0/1 mask of what differs from the background (after the lighting gain); learns."""
        p = self.p
        img = self._small(rgb)
        if self.bg is None:
            self.bg = img.copy()
        if float(img.mean()) < 4.0:  # a blackout: nothing to see, nothing to learn
            return np.zeros(img.shape[:2], np.uint8)
        g = self._estimate_gain(img)
        self.gain = g
        pred = np.minimum(self.bg * np.float32(g), np.float32(255.0))
        ch = cv2.split(cv2.absdiff(img, pred))
        diff = cv2.max(cv2.max(ch[0], ch[1]), ch[2])
        fg = (diff > p.diff * max(min(g, 1.0), 0.4)).astype(np.uint8)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, self._open)
        fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, self._close)
        if fg.mean() > p.max_changed:  # the view changed (camera moved, lights): not people
            self._changed += 1
            if self._changed >= p.relearn_after:  # for good: start the background again
                self.bg, self._changed = img.copy(), 0
            return np.zeros_like(fg)
        self._changed = 0
        if 0.2 < g < 5:  # learn: fast where nobody is, very slowly under people (so that ghosts fade)
            grown = cv2.dilate(fg, self._grow)
            src = img * np.float32(1.0 / g)
            cv2.accumulateWeighted(src, self.bg, p.learn, mask=1 - grown)
            cv2.accumulateWeighted(src, self.bg, p.learn_fg, mask=grown)
        return fg

    def __call__(self, rgb: np.ndarray, t: float = 0.0) -> list[Detection]:
        p, cam, S = self.p, self.camera, self.p.scale
        fg = self.foreground(rgb)
        if not len(self._cells) or fg.sum() < 20:
            return []
        # greedy occupancy: the floor cell whose person model is best covered by foreground, then
        # its pixels count as explained (neither foreground nor visible) for the next one
        I = cv2.integral(fg)
        fgc = self._rect_sums(I)
        # a cell can only pass with fill >= min_fill of at least min_visible of its model: prune the rest
        live = fgc.sum(1) >= p.min_fill * p.min_visible * self._area.sum(1)
        if not live.any():
            return []
        cells, fgc, vis, area = self._cells[live], fgc[live], self._vis[live], self._area[live]
        rects = self._rects[live]
        corners = tuple(c[live] for c in self._corners)
        expl = np.zeros_like(fg)
        Ie = None
        taken = np.zeros(len(cells), bool)
        out: list[Detection] = []
        for _ in range(p.max_people):
            if Ie is None:
                f_, v_ = fgc, vis
            else:
                f_ = np.maximum(fgc - self._rect_sums(Ie_fg, corners), 0)
                v_ = np.maximum(vis - self._rect_sums(Ie, corners), 0)
            enough = (v_.sum(1) >= p.min_visible * area.sum(1)) & ~taken
            score = np.where(enough, f_.sum(1) / np.maximum(v_.sum(1), 1), 0.0)
            k = int(np.argmax(score))
            if score[k] < p.min_fill:
                break
            c = cells[k]
            near = ((cells - c) ** 2).sum(1) < p.min_sep_m ** 2
            w8 = np.where(near, score, 0.0) ** 4
            foot = (cells * w8[:, None]).sum(0) / w8.sum()
            taken |= near
            r = rects[k]
            u0, v0, u1, v1 = r[:, 0].min(), r[:, 1].min(), r[:, 2].max(), r[:, 3].max()
            m = np.zeros_like(fg)
            for q in r:
                m[q[1]:q[3], q[0]:q[2]] = 1
            mine = fg[v0:v1, u0:u1] & m[v0:v1, u0:u1] & (1 - expl[v0:v1, u0:u1])
            ys, xs = np.nonzero(mine)
            if len(ys) < 10:
                continue
            expl |= m
            Ie = cv2.integral(expl)
            Ie_fg = cv2.integral(expl & fg)
            box = (int((u0 + xs.min()) * S), int((v0 + ys.min()) * S),
                   int(min((u0 + xs.max() + 1) * S, cam.width)), int(min((v0 + ys.max() + 1) * S, cam.height)))
            sc = float(np.clip((score[k] - p.min_fill) / (1 - p.min_fill) * 1.5, 0.05, 1.0))
            out.append(Detection(cam.id, float(t), box, round(sc, 4), np.array([foot[0], foot[1], 0.0]), None))
        return out


class PersonDetector:
    """One camera's person detector: depth when the frame has it, colour background subtraction otherwise.

    `PersonDetector(rec_or_store, cam)`; `det(frame)` -> list[Detection] for an `engine.frames.Frame`
    (or anything with `t`, `rgb`, `depth`). Call it on the camera's frames in time order: the colour
    path learns its background as it goes (`prime` gives it a clean start).
    """

    def __init__(self, rec_or_store: Recording | Store, cam: Camera | str,
                 depth_params: DepthParams | None = None, colour_params: ColourParams | None = None) -> None:
        if isinstance(rec_or_store, Recording):
            store = rec_or_store.store
            cam = rec_or_store.camera(cam) if isinstance(cam, str) else cam
        else:
            store = rec_or_store
            if isinstance(cam, str):
                raise TypeError("give a Camera (not an id) with a Store")
        self.store, self.camera = store, cam
        self._dp, self._cp = depth_params, colour_params
        self._depth: DepthDetector | None = None
        self._colour: ColourDetector | None = None

    @property
    def depth(self) -> DepthDetector:
        if self._depth is None:
            self._depth = DepthDetector(self.store, self.camera, self._dp)
        return self._depth

    @property
    def colour(self) -> ColourDetector:
        if self._colour is None:
            self._colour = ColourDetector(self.store, self.camera, self._cp)
        return self._colour

    def prime(self, stream, n: int = 24) -> None:
        """Learn the colour background from n frames spread over a CameraStream (colour-only cameras)."""
        ts = np.linspace(stream.times[0], stream.times[-1], n)
        self.colour.prime(stream.frame_at(float(t), rgb=True, depth=False).rgb for t in ts)

    def __call__(self, frame) -> list[Detection]:
        if frame.depth is not None:
            return self.depth(frame.depth, frame.t)
        if frame.rgb is None:
            raise ValueError(f"camera {self.camera.id}: frame at {frame.t:.3f} s has neither colour nor depth")
        return self.colour(frame.rgb, frame.t)
