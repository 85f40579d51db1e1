"""Automatic ceiling cameras for a store (`cameras: {auto: ...}` in a scenario).

Every bin must be seen by at least two cameras, because the engine
triangulates hands and reads products in multiple views; the free floor
should be too, so people are tracked everywhere. Placement is a set cover
over candidate poses (ceiling positions on a grid and along every aisle x
tilt directions), solved greedily from a few deterministic starts, then
pruned and improved by a two-for-one local search, all on precomputed
visibility tables, so it is deterministic and takes about a second for the
go-store. Cameras keep MIN_SEPARATION_M apart: two views from one spot give
no baseline.

"Seen" (the contract the tests and the final check use):
- a bin: its opening centre is in front of the camera, projects inside the
  image with a 10 px margin, the opening faces the camera no more than 75
  degrees off its normal, and the line from the camera to a point 3 cm in
  front of the opening passes through no shelf box;
- a floor point (every 0.5 m at z = 1 m, off the shelves): in front, inside
  the image with the margin, and no shelf box in the way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from data.cameras import Camera, look_at
from data.errors import ScenarioError
from data.scenario import AutoCameras
from data.store import Store

HFOV_DEG = 98.0
DIST = (-0.02, 0.0, 0.0, 0.0, 0.0)  # mild barrel distortion, like a real wide lens
TILTS_DEG = (25.0, 32.0, 40.0)  # candidate tilts from straight down
AZIMUTHS = 8  # candidate tilt directions per position, evenly spaced
MIN_VIEWS = 2
# what "seen" means (the contract)
MARGIN_PX = 10.0
MAX_OFF_NORMAL_DEG = 75.0
FRONT_OFFSET_M = 0.03
FLOOR_STEP_M = 0.5
FLOOR_Z_M = 1.0
# how placement searches
WALL_INSET_M = 0.3  # cameras hang at least this far from the walls
GRID_MAX_M = 0.8  # candidate grid pitch: spacing_m / 2, but never coarser than this
AISLE_OFFSETS_M = (0.75, 0.95, 1.15)  # candidate lines in front of each shelf face
FLOOR_RANGE_K = 4.0  # a floor point counts for cameras within this many spacing_m (horizontally)
MIN_SEPARATION_M = 1.5  # between two cameras: two views from one spot give no baseline
MAX_BIN_DIST_M = 7.0  # placement wants bin views close enough to see a hand (not part of "seen")
FLOOR_TARGET = 0.97  # placement may leave this little of the floor with fewer than two views
STARTS = 4  # greedy runs: the first plain, the rest randomised
GRASP_SLACK = 0.15  # a randomised pick is any candidate within this fraction of the best gain


# -- geometry helpers --------------------------------------------------------------

def intrinsics(auto: AutoCameras) -> tuple[np.ndarray, np.ndarray]:
    """(K, dist) for the auto cameras: square pixels, principal point at the image centre."""
    f = (auto.width / 2) / math.tan(math.radians(HFOV_DEG) / 2)
    K = np.array([[f, 0.0, (auto.width - 1) / 2], [0.0, f, (auto.height - 1) / 2], [0.0, 0.0, 1.0]])
    return K, np.array(DIST, float)


def _max_r2(K: np.ndarray, dist: np.ndarray, width: int, height: int) -> float:
    """Squared normalised radius just beyond the image corners.

    Beyond it the polynomial distortion folds far-off points back into the
    picture; such projections are artefacts, not views.
    """
    corners = np.array([[[-0.5, -0.5]], [[width - 0.5, height - 0.5]], [[width - 0.5, -0.5]], [[-0.5, height - 0.5]]])
    und = cv2.undistortPoints(corners, K, dist).reshape(-1, 2)
    return float((und ** 2).sum(1).max() * 1.2)


def points_in_polygon(xy: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd test of points (N, 2) against a simple polygon (M, 2)."""
    x, y = xy[:, 0:1], xy[:, 1:2]
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return ((crosses & (x < xi)).sum(1) % 2) == 1


def segments_hit_boxes(a: np.ndarray, b: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether each segment a->b (..., 3) passes through the inside of any box (M, 3)-(M, 3).

    Slab test, one axis at a time to keep the temporaries small; segments that
    only graze a face or an edge do not count.
    """
    a = np.asarray(a, float)
    shape = a.shape[:-1]
    a = a.reshape(-1, 3)
    d = np.asarray(b, float).reshape(-1, 3) - a
    lo, hi = np.asarray(lo, float).reshape(-1, 3), np.asarray(hi, float).reshape(-1, 3)
    near = np.zeros((len(a), len(lo)))
    far = np.ones((len(a), len(lo)))
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(3):
            inv = 1.0 / d[:, k:k + 1]  # inf where the segment runs parallel to the slab
            t1 = (lo[:, k] - a[:, k:k + 1]) * inv
            t2 = (hi[:, k] - a[:, k:k + 1]) * inv
            np.maximum(near, np.fmin(t1, t2), out=near)  # fmin/fmax: a NaN (on the slab's plane) never hits
            np.minimum(far, np.fmax(t1, t2), out=far)
    return (near < far - 1e-9).any(-1).reshape(shape)


def _shelf_boxes(store: Store) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([s.min for s in store.shelves], float).reshape(-1, 3)
    hi = np.array([s.max for s in store.shelves], float).reshape(-1, 3)
    return lo, hi


def bin_targets(store: Store) -> tuple[np.ndarray, np.ndarray]:
    """Opening centres (B, 3) and their outward normals (B, 3), in store.bins order."""
    centres = np.array([store.opening(b)[0] for b in store.bins]).reshape(-1, 3)
    normals = np.array([[*store.facing(b), 0.0] for b in store.bins]).reshape(-1, 3)
    return centres, normals


def floor_samples(store: Store, step: float = FLOOR_STEP_M, z: float = FLOOR_Z_M) -> np.ndarray:
    """Free floor points (N, 3): cell centres every `step` inside the floor and off every shelf."""
    x0, y0, x1, y1 = store.bounds
    xs = np.arange(x0 + step / 2, x1, step)
    ys = np.arange(y0 + step / 2, y1, step)
    gx, gy = np.meshgrid(xs, ys)
    xy = np.stack([gx.ravel(), gy.ravel()], 1)
    keep = points_in_polygon(xy, np.asarray(store.floor, float))
    for s in store.shelves:
        keep &= ~((xy[:, 0] >= s.min[0]) & (xy[:, 0] <= s.max[0]) & (xy[:, 1] >= s.min[1]) & (xy[:, 1] <= s.max[1]))
    xy = xy[keep]
    return np.hstack([xy, np.full((len(xy), 1), z)])


def _bin_geometry_ok(store: Store, eyes: np.ndarray) -> np.ndarray:
    """(E, B): the opening faces eye (within MAX_OFF_NORMAL_DEG) and no shelf blocks the line of sight."""
    centres, normals = bin_targets(store)
    to_eye = eyes[:, None, :] - centres[None]
    dist = np.linalg.norm(to_eye, axis=-1)
    cos = (to_eye * normals[None]).sum(-1) / np.maximum(dist, 1e-9)
    faces = cos >= math.cos(math.radians(MAX_OFF_NORMAL_DEG))
    lo, hi = _shelf_boxes(store)
    front = centres + FRONT_OFFSET_M * normals
    blocked = segments_hit_boxes(np.broadcast_to(eyes[:, None, :], to_eye.shape),
                                 np.broadcast_to(front[None], to_eye.shape), lo, hi)
    return faces & ~blocked


def _floor_clear(store: Store, eyes: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(E, N): no shelf box between each eye and each floor point."""
    return _floor_clear_pairs(store, eyes, pts, np.ones((len(eyes), len(pts)), bool)).reshape(len(eyes), len(pts))


def _floor_clear_pairs(store: Store, eyes: np.ndarray, pts: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """For the (eye, point) pairs marked in `pairs` (E, N), in np.nonzero order: no shelf box in between."""
    lo, hi = _shelf_boxes(store)
    ei, ni = np.nonzero(pairs)
    return ~segments_hit_boxes(eyes[ei], pts[ni], lo, hi)


def _in_view(cam: Camera, pts: np.ndarray, margin: float = MARGIN_PX) -> np.ndarray:
    """Points (N, 3) in front of cam, projecting inside the image with margin (cv2's projection)."""
    pc = cam.to_camera(pts)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = (pc[:, 0] ** 2 + pc[:, 1] ** 2) / pc[:, 2] ** 2
    ok = (pc[:, 2] > 1e-6) & (r2 <= _max_r2(cam.K, cam.dist, cam.width, cam.height))
    return ok & cam.in_image(cam.project(pts), margin)


# -- candidates ------------------------------------------------------------------------

def _grid_positions(store: Store, pitch: float, height: float) -> np.ndarray:
    """Ceiling positions (P, 3) on a grid of `pitch`, centred in the floor's bounds, inside the polygon."""
    x0, y0, x1, y1 = store.bounds
    axes = []
    for a, b in ((x0, x1), (y0, y1)):
        span = (b - a) - 2 * WALL_INSET_M
        n = max(1, int(math.floor(span / pitch + 1e-9)) + 1)
        start = a + WALL_INSET_M + (span - (n - 1) * pitch) / 2
        axes.append(start + pitch * np.arange(n))
    gx, gy = np.meshgrid(*axes)
    xy = np.stack([gx.ravel(), gy.ravel()], 1)
    poly = np.asarray(store.floor, float)
    xy = xy[points_in_polygon(xy, poly)]
    return np.hstack([xy, np.full((len(xy), 1), height)])


def _rotations() -> np.ndarray:
    """Candidate world->camera rotations (O, 3, 3): tilts x azimuths, image up toward the tilt."""
    out = []
    for tilt in TILTS_DEG:
        for k in range(AZIMUTHS):
            az = 2 * math.pi * k / AZIMUTHS
            s = math.sin(math.radians(tilt))
            fwd = np.array([s * math.cos(az), s * math.sin(az), -math.cos(math.radians(tilt))])
            R, _ = look_at(np.zeros(3), fwd, np.array([0.0, 0.0, 1.0]))
            out.append(R)
    return np.array(out)


def _project_all(Rs: np.ndarray, eyes: np.ndarray, K: np.ndarray, dist: np.ndarray, pts: np.ndarray,
                 width: int, height: int, margin: float, pairs: np.ndarray) -> np.ndarray:
    """(E, O, N): point n in view of a camera at eye e with rotation o (numpy twin of _in_view).

    Only the (eye, point) pairs marked in `pairs` (E, N) are projected; the rest are False.
    """
    E, O, N = len(eyes), len(Rs), len(pts)
    out = np.zeros((E, N, O), bool)
    ei, ni = np.nonzero(pairs)
    if len(ei):
        rel = (pts[ni] - eyes[ei]).astype(np.float32)  # (M, 3)
        pc = (rel @ Rs.reshape(O * 3, 3).T.astype(np.float32)).reshape(-1, O, 3)  # (M, O, 3)
        z = pc[..., 2]
        front = z > 1e-6
        z = np.where(front, z, 1.0)
        x, y = pc[..., 0] / z, pc[..., 1] / z
        r2 = x * x + y * y
        k1, k2, p1, p2, k3 = (float(v) for v in dist)
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        u = K[0, 0] * (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)) + K[0, 2]
        v = K[1, 1] * (y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y) + K[1, 2]
        ok = (front & (r2 <= _max_r2(K, dist, width, height)) & (u >= -0.5 + margin) & (u <= width - 0.5 - margin)
              & (v >= -0.5 + margin) & (v <= height - 0.5 - margin))
        out[ei, ni] = ok
    return out.transpose(0, 2, 1)


# -- placement ---------------------------------------------------------------------------

def _greedy(vis: np.ndarray, need: np.ndarray, near: np.ndarray, n_rot: int, n_bins: int,
            rng: np.random.Generator | None = None) -> list[int] | None:
    """Candidates (rows of vis (C, T)) picked one by one, most unmet targets first, until every need is met.

    Candidate c hangs at position c // n_rot; near (E, E) marks positions too
    close together for two cameras (a second view from the same spot adds no
    baseline for triangulation). With rng, each pick is drawn among the
    candidates within GRASP_SLACK of the best gain (for multi-start search).
    """
    have = np.zeros(vis.shape[1], int)
    vis_f = vis.astype(np.float32)
    free = np.ones(len(near), bool)
    chosen: list[int] = []
    while (have < need).any():
        gain = vis_f @ (have < need).astype(np.float32)
        gain[~np.repeat(free, n_rot)] = -1
        best = int(np.argmax(gain))
        if gain[best] <= 0:  # what is left is only reachable from spots already taken
            if (have[:n_bins] < need[:n_bins]).any():
                return None
            break
        if rng is not None:
            pool = np.flatnonzero(gain >= (1 - GRASP_SLACK) * gain[best])
            best = int(pool[rng.integers(len(pool))])
        chosen.append(best)
        have += vis[best]
        free &= ~near[best // n_rot]
    return chosen


def _prune(vis: np.ndarray, need: np.ndarray, chosen: list[int]) -> list[int]:
    """Drop cameras whose every target still has its need met without them (least useful first)."""
    chosen = list(chosen)
    have = vis[chosen].sum(0)
    for c in sorted(chosen, key=lambda c: (int(vis[c].sum()), c)):
        without = have - vis[c]
        if (without >= need).all():
            chosen.remove(c)
            have = without
    return chosen


def _two_for_one(vis: np.ndarray, need: np.ndarray, chosen: list[int], near: np.ndarray, n_rot: int,
                 vis_t: np.ndarray) -> list[int]:
    """Local search: replace two chosen cameras by one candidate while every need stays met.

    vis_t is vis transposed and contiguous (targets x candidates), for fast row picks.
    """
    chosen = list(chosen)
    improved = True
    while improved and len(chosen) > 2:
        improved = False
        have = vis[chosen].sum(0)
        for a in range(len(chosen)):
            for b in range(a + 1, len(chosen)):
                short = need - (have - vis[chosen[a]] - vis[chosen[b]])
                if (short > 1).any():
                    continue
                rest = [c for k, c in enumerate(chosen) if k not in (a, b)]
                ok = np.repeat(~near[[c // n_rot for c in rest]].any(0), n_rot)
                ok &= vis_t[short > 0].all(0)
                fits = np.flatnonzero(ok)
                if len(fits):
                    chosen = rest + [int(fits[0])]
                    improved = True
                    break
            if improved:
                break
    return chosen


def _relax_floor(vis: np.ndarray, need: np.ndarray, chosen: list[int], n_bins: int) -> list[int]:
    """Drop cameras that only serve the last few floor samples (bins keep their views)."""
    chosen = list(chosen)
    have = vis[chosen].sum(0)
    for c in sorted(chosen, key=lambda c: (int(vis[c].sum()), c)):
        w = have - vis[c]
        if (w[:n_bins] >= need[:n_bins]).all() and (w[n_bins:] >= need[n_bins:]).mean() >= FLOOR_TARGET:
            chosen.remove(c)
            have = w
    return chosen


def _candidate_positions(store: Store, auto: AutoCameras) -> np.ndarray:
    """Ceiling positions: a grid of spacing_m / 2 plus lines along every aisle.

    The aisle lines matter: a low bin is only seen within 75 degrees of its
    normal from a camera near the middle of its aisle, which a coarse grid
    may miss.
    """
    pts = [_grid_positions(store, min(auto.spacing_m / 2, GRID_MAX_M), auto.height_m)]
    poly = np.asarray(store.floor, float)
    step = min(auto.spacing_m / 4, GRID_MAX_M / 2)
    for s in store.shelves:
        f = np.asarray(s.facing, float)
        ax = int(np.argmax(np.abs(f)))
        o = 1 - ax
        face = s.max[ax] if f[ax] > 0 else s.min[ax]
        along = np.arange(s.min[o] - step, s.max[o] + step + 1e-9, step)
        for d in AISLE_OFFSETS_M:
            p = np.zeros((len(along), 3))
            p[:, ax] = face + np.sign(f[ax]) * d
            p[:, o] = along
            p[:, 2] = auto.height_m
            pts.append(p)
    allp = np.vstack(pts)
    x0, y0, x1, y1 = store.bounds
    keep = points_in_polygon(allp[:, :2], poly)
    keep &= (allp[:, 0] >= x0 + WALL_INSET_M) & (allp[:, 0] <= x1 - WALL_INSET_M)
    keep &= (allp[:, 1] >= y0 + WALL_INSET_M) & (allp[:, 1] <= y1 - WALL_INSET_M)
    allp = np.round(allp[keep], 3)
    _, first = np.unique(allp, axis=0, return_index=True)
    return allp[np.sort(first)]


@dataclass
class _Candidates:
    """Every candidate pose and what it sees: vis[c] over bins (first n_bins columns), then floor samples."""
    eyes: np.ndarray  # (E, 3) positions; candidate c is at eyes[c // len(Rs)] ...
    Rs: np.ndarray  # (O, 3, 3) ... with rotation Rs[c % len(Rs)]
    vis: np.ndarray  # (E * O, n_bins + n_floor) bool
    n_bins: int


def _candidates(store: Store, auto: AutoCameras) -> _Candidates:
    K, dist = intrinsics(auto)
    eyes = _candidate_positions(store, auto)
    Rs = _rotations()
    if not len(eyes):
        raise ScenarioError("cameras.auto: the floor polygon has no room for a ceiling camera")
    centres, _ = bin_targets(store)
    floor = floor_samples(store)
    margin = MARGIN_PX + 2  # a hair stricter than the check, so numerics never flip a view
    close = np.linalg.norm(centres[None] - eyes[:, None], axis=-1) <= MAX_BIN_DIST_M
    vb = _project_all(Rs, eyes, K, dist, centres, auto.width, auto.height, margin,
                      _bin_geometry_ok(store, eyes) & close)
    near = np.linalg.norm(floor[None, :, :2] - eyes[:, None, :2], axis=-1) <= FLOOR_RANGE_K * auto.spacing_m
    near[near] = _floor_clear_pairs(store, eyes, floor, near)
    vf = _project_all(Rs, eyes, K, dist, floor, auto.width, auto.height, margin, near)
    vis = np.concatenate([vb, vf], axis=2).reshape(len(eyes) * len(Rs), -1)
    return _Candidates(eyes, Rs, vis, len(centres))


def _solve(cand: _Candidates, store: Store, auto: AutoCameras) -> list[int]:
    """The smallest rig found: greedy plus local search, from several deterministic starts."""
    vis, n_bins, O = cand.vis, cand.n_bins, len(cand.Rs)
    reach = vis.sum(0)
    bad = np.flatnonzero(reach[:n_bins] < MIN_VIEWS)
    if len(bad):
        i = int(bad[0])
        raise ScenarioError(f"cameras.auto: bin {store.bins[i].id} cannot be seen by {MIN_VIEWS} ceiling cameras "
                            f"at height {auto.height_m} m (only {reach[i]} candidate views)")
    need = np.minimum(MIN_VIEWS, reach)
    eyes = cand.eyes
    vis_t = np.ascontiguousarray(vis.T)
    rng = np.random.default_rng(0)
    best: tuple[tuple[bool, int, int], list[int]] | None = None
    for sep_m in (MIN_SEPARATION_M, 0.0):  # without the separation only when it makes the bins impossible
        sep = np.linalg.norm(eyes[:, None, :2] - eyes[None, :, :2], axis=-1) < sep_m
        np.fill_diagonal(sep, True)
        for start in range(STARTS):  # plain greedy first, then randomised restarts
            chosen = _greedy(vis, need, sep, O, n_bins, rng if start else None)
            if chosen is None:
                continue
            got = np.minimum(need, vis[chosen].sum(0))  # the floor this start could reach
            chosen = _relax_floor(vis, got, _two_for_one(vis, got, _prune(vis, got, chosen), sep, O, vis_t), n_bins)
            have = vis[chosen].sum(0)
            floor_short = bool((have[n_bins:] >= need[n_bins:]).mean() < FLOOR_TARGET)
            score = (floor_short, len(chosen), -int(have.sum()))  # enough floor, then fewest, then most views
            if best is None or score < best[0]:
                best = (score, chosen)
        if best is not None:
            return list(best[1])
    raise ScenarioError("cameras.auto: no set of ceiling cameras sees every bin twice")


def auto_cameras(store: Store, auto: AutoCameras) -> list[Camera]:
    """Ceiling cameras that see every bin at least twice and, as far as they can, the whole floor.

    Candidate positions lie on a grid of auto.spacing_m / 2 (at most GRID_MAX_M)
    and along the aisles; a floor point only counts as covered by cameras
    within FLOOR_RANGE_K x spacing_m (horizontally), so a smaller spacing gives
    a denser rig. Raises ScenarioError naming a bin that no two cameras can see.
    """
    cand = _candidates(store, auto)
    chosen = _solve(cand, store, auto)
    eyes, O = cand.eyes, len(cand.Rs)
    # ids in reading order of the floor plan (rows of y, then x)
    chosen.sort(key=lambda c: (round(float(eyes[c // O, 1]), 3), round(float(eyes[c // O, 0]), 3), c % O))
    K, dist = intrinsics(auto)
    cams = []
    for n, c in enumerate(chosen, 1):
        eye = eyes[c // O]
        R = cand.Rs[c % O]
        cid = f"cam-{n:02d}"
        cams.append(Camera(cid, auto.width, auto.height, float(auto.fps), K.copy(), dist.copy(), R.copy(), -R @ eye,
                           video=f"{cid}.mp4", depth=f"{cid}.depth.mkv" if auto.depth else None))
    for bid, seen in views_of_bins(store, cams).items():
        if len(seen) < MIN_VIEWS:
            raise ScenarioError(f"cameras.auto: bin {bid} is seen by {len(seen)} camera(s), needs {MIN_VIEWS}")
    return cams


# -- checks -------------------------------------------------------------------------------

def views_of_bins(store: Store, cams: list[Camera]) -> dict[str, list[str]]:
    """For each bin id, the ids of the cameras that see its opening (module docstring's rule)."""
    centres, _ = bin_targets(store)
    out: dict[str, list[str]] = {b.id: [] for b in store.bins}
    if not cams:
        return out
    ok = _bin_geometry_ok(store, np.array([c.center for c in cams]))
    for k, cam in enumerate(cams):
        seen = ok[k] & _in_view(cam, centres)
        for i in np.flatnonzero(seen):
            out[store.bins[i].id].append(cam.id)
    return out


def floor_views(store: Store, cams: list[Camera]) -> tuple[np.ndarray, np.ndarray]:
    """Free floor samples (N, 3) and how many cameras see each (N,)."""
    pts = floor_samples(store)
    count = np.zeros(len(pts), int)
    if cams and len(pts):
        clear = _floor_clear(store, np.array([c.center for c in cams]), pts)
        for k, cam in enumerate(cams):
            count += clear[k] & _in_view(cam, pts)
    return pts, count


def floor_coverage(store: Store, cams: list[Camera]) -> float:
    """Fraction of free floor samples (0.5 m grid, z = 1 m) seen by at least two cameras."""
    _, count = floor_views(store, cams)
    return float((count >= MIN_VIEWS).mean()) if len(count) else 1.0
