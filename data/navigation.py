"""Walkable floor and shortest paths around fixtures, for the simulated people.

The floor is a grid of 10 cm cells; shelves are inflated by a body radius so a
person's centre never comes close enough for the body to pass through them.
Paths come from a geodesic distance field per goal (scipy's Dijkstra over the
grid graph), cached, so many people can head for the same bin or exit cheaply.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

from data.store import Store

CELL = 0.1
BODY_RADIUS = 0.25  # clearance kept from shelves and walls (m)


@dataclass
class FloorGrid:
    """Occupancy grid of the store floor: free[i, j] for cell centre (x0 + (j+.5)c, y0 + (i+.5)c)."""
    x0: float
    y0: float
    free: np.ndarray  # (H, W) bool
    _graph: object = field(default=None, repr=False)
    _fields: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_store(cls, store: Store, clearance: float = BODY_RADIUS) -> FloorGrid:
        bx0, by0, bx1, by1 = store.bounds
        w = int(np.ceil((bx1 - bx0) / CELL))
        h = int(np.ceil((by1 - by0) / CELL))
        inside = np.zeros((h, w), np.uint8)
        poly = ((np.asarray(store.floor, float) - [bx0, by0]) / CELL * 16).round().astype(np.int32)
        cv2.fillPoly(inside, [poly], 1, shift=4)
        # keep a clearance from the walls too
        k = int(np.ceil(clearance / CELL))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        inside = cv2.erode(inside, kernel, borderValue=0)
        blocked = np.zeros((h, w), np.uint8)
        for s in store.shelves:
            i0 = int(np.floor((s.min[1] - clearance - by0) / CELL))
            i1 = int(np.ceil((s.max[1] + clearance - by0) / CELL))
            j0 = int(np.floor((s.min[0] - clearance - bx0) / CELL))
            j1 = int(np.ceil((s.max[0] + clearance - bx0) / CELL))
            blocked[max(i0, 0):max(i1, 0), max(j0, 0):max(j1, 0)] = 1
        return cls(bx0, by0, (inside > 0) & (blocked == 0))

    # -- cells and points --------------------------------------------------------------
    def cell(self, xy: np.ndarray) -> tuple[int, int]:
        # plain min/max, not np.clip: the simulator asks millions of times per recording
        h, w = self.free.shape
        return int(min(max((xy[1] - self.y0) / CELL, 0), h - 1)), int(min(max((xy[0] - self.x0) / CELL, 0), w - 1))

    def centre(self, i: int, j: int) -> np.ndarray:
        return np.array([self.x0 + (j + 0.5) * CELL, self.y0 + (i + 0.5) * CELL])

    def is_free(self, xy: np.ndarray) -> bool:
        u, v = (xy[0] - self.x0) / CELL, (xy[1] - self.y0) / CELL
        h, w = self.free.shape
        return bool(0 <= u < w and 0 <= v < h and self.free[int(v), int(u)])

    def nearest_free(self, xy: np.ndarray) -> np.ndarray:
        """The free cell centre nearest to xy (xy itself when it is free)."""
        if self.is_free(xy):
            return np.asarray(xy, float)
        ii, jj = np.nonzero(self.free)
        cx = self.x0 + (jj + 0.5) * CELL
        cy = self.y0 + (ii + 0.5) * CELL
        k = int(np.argmin((cx - xy[0]) ** 2 + (cy - xy[1]) ** 2))
        return np.array([cx[k], cy[k]])

    def segment_free(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Every point at half-cell steps from a to b is free (checked all at once, as is_free would one by one)."""
        n = max(2, int(np.linalg.norm(b - a) / (CELL * 0.5)) + 1)
        pts = a + (b - a) * np.linspace(0, 1, n)[:, None]
        u, v = (pts[:, 0] - self.x0) / CELL, (pts[:, 1] - self.y0) / CELL
        h, w = self.free.shape
        inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
        if not inside.all():
            return False
        return bool(self.free[v.astype(int), u.astype(int)].all())

    # -- distance fields ---------------------------------------------------------------
    def _build_graph(self):
        h, w = self.free.shape
        si, sj = np.nonzero(self.free)
        rows, cols, vals = [], [], []
        for di, dj in ((0, 1), (1, 0), (1, 1), (1, -1)):
            ti, tj = si + di, sj + dj
            ok = (ti < h) & (tj >= 0) & (tj < w)
            ok[ok] = self.free[ti[ok], tj[ok]]
            if di and dj:  # no cutting corners past a blocked cell
                ok[ok] = self.free[si[ok] + di, sj[ok]] & self.free[si[ok], sj[ok] + dj]
            rows.append(si[ok] * w + sj[ok])
            cols.append(ti[ok] * w + tj[ok])
            vals.append(np.full(int(ok.sum()), np.hypot(di, dj) * CELL))
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        n = h * w
        self._graph = coo_matrix((np.concatenate([v, v]), (np.concatenate([r, c]), np.concatenate([c, r]))),
                                 shape=(n, n)).tocsr()

    def distance_field(self, goal: np.ndarray) -> np.ndarray:
        """Geodesic distance (m) from every cell to the goal's cell; inf where unreachable."""
        gi, gj = self.cell(self.nearest_free(goal))
        key = (gi, gj)
        if key not in self._fields:
            if self._graph is None:
                self._build_graph()
            d = dijkstra(self._graph, indices=gi * self.free.shape[1] + gj)
            if len(self._fields) > 256:
                self._fields.pop(next(iter(self._fields)))
            self._fields[key] = d.reshape(self.free.shape)
        return self._fields[key]

    def reachable(self, a: np.ndarray, b: np.ndarray) -> bool:
        d = self.distance_field(b)
        i, j = self.cell(self.nearest_free(a))
        return bool(np.isfinite(d[i, j]))

    def steer(self, pos: np.ndarray, goal: np.ndarray, lookahead: float = 1.5) -> np.ndarray:
        """A point to head for now: the farthest point, up to `lookahead` along the shortest
        path to goal, that can be reached in a straight line."""
        if np.linalg.norm(goal - pos) < lookahead and self.segment_free(pos, goal):
            return np.asarray(goal, float)
        d = self.distance_field(goal)
        i, j = self.cell(self.nearest_free(pos))
        h, w = d.shape
        path = []
        steps = int(lookahead / CELL) + 2
        for _ in range(steps):
            best = (d[i, j], i, j)
            for di in (-1, 0, 1):
                for dj in (-1, 0, 1):
                    ni, nj = i + di, j + dj
                    if 0 <= ni < h and 0 <= nj < w and d[ni, nj] < best[0]:
                        best = (d[ni, nj], ni, nj)
            if best[1] == i and best[2] == j:
                break
            i, j = best[1], best[2]
            path.append(self.centre(i, j))
        if not path:
            return np.asarray(goal, float)
        target = path[0]
        for p in path[1:]:
            if np.linalg.norm(p - pos) > lookahead or not self.segment_free(pos, p):
                break
            target = p
        if len(path) < steps and np.linalg.norm(goal - path[-1]) < 2 * CELL and self.segment_free(pos, goal):
            return np.asarray(goal, float)
        return target

    def path_length(self, a: np.ndarray, b: np.ndarray) -> float:
        d = self.distance_field(b)
        i, j = self.cell(self.nearest_free(a))
        return float(d[i, j])
