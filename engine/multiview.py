"""Multi-view 3D poses (design.md stage 3, the lifting half): 2D keypoints in many cameras -> 3D skeletons.

`reconstruct(poses, cams, t, prev)` takes the 2D poses found at about time t
in every camera and returns one `Pose3D` per person:

1. **Rays.** Each confident keypoint (score >= min_score) becomes a world ray
   (undistorted with OpenCV).
2. **Pairwise consistency.** For every two detections in different cameras,
   the closest approach of their joints' rays: the median distance over the
   joints both see (robust to a few mixed-up limbs), with the rays' meeting
   points at plausible heights (feet near the floor, head above the hips).
   Below `pair_max_m` a pair may be one person, above `pair_conflict_m` it
   cannot; pairs sharing fewer than `pair_min_joints` joints say nothing.
3. **Grouping.** Greedy agglomerative clustering, cheapest pair first, with
   complete linkage: two groups join only when they hold no camera twice and
   no cross pair contradicts (so a group is cycle-consistent).
4. **Robust triangulation per joint.** With 3+ views every pair of views is a
   hypothesis (RANSAC over views, exhaustive since views are few), scored by
   the views that reproject within `inlier_rad` x focal pixels; the inliers
   are re-triangulated by least squares weighted by score and 1/depth. An
   elbow or wrist hypothesis farther from both of the person's shoulders than
   an arm reaches is ruled out (`_gate_arms`). Views
   of a group that agree on too few joints are taken out of it. All people
   are fitted at once (arrays of people x cameras x joints).
5. **Re-assignment.** Every detection then goes to the person whose fitted
   skeleton projects onto it (Hungarian per camera, gated at `attach_rad`),
   which undoes the grouping's mistakes where people stand close; a
   two-view "ghost" (A's view in one camera, B's in another) whose views
   other people explain is dropped (as is any two-view person on fewer than
   `two_view_min_joints` joints); leftovers are grouped again; a person split
   in two groups (one perhaps holding someone else's view) is merged again.
6. **Sanity.** Joints with too narrow a triangulation angle, below the floor
   or on implausibly long bones are dropped (NaN, confidence 0); a skeleton
   that is not person-shaped (no joint above the hips' height, or floating)
   is rejected.
7. **Memory.** With `prev` (the previous step's output): a detection seen by
   one camera only is kept, at low confidence, when it lies where a previous
   person projects and that person is not otherwise found; the previous
   positions also give each person's velocity, used to move every view's
   observation to the common time t (cameras are not frame-locked).

`Pose3D.views` lists (camera id, k) with k the index of the view's pose in
the `poses` list given to `reconstruct` (so `poses[k].camera` is that camera
and `poses[k].detection` its row in that camera's frame). `confidence`
combines the keypoint scores, the number of agreeing views, the widest
triangulation angle and the reprojection residual; `residual_px` is the
mean reprojection error over the views used (0 for a single-view estimate).

Speed: about 5-12 ms per time step for 6 cameras and 8 people on one core.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from data.cameras import Camera
from data.world import (ARM_PAIRS, L_ANKLE, L_EAR, L_ELBOW, L_EYE, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, NOSE,
                        R_ANKLE, R_EAR, R_ELBOW, R_EYE, R_HIP, R_KNEE, R_SHOULDER, R_WRIST)
from engine.geometry import CameraArrays, ray_closest, triangulate_ls, undistort
from engine.types import Pose2D, Pose3D

NJ = 17
HEAD = (NOSE, L_EYE, R_EYE, L_EAR, R_EAR)
ANKLES = (L_ANKLE, R_ANKLE)

# bone length limits (metres), generous: they catch joints on the wrong person, not anatomy
TORSO_BONES = ((L_SHOULDER, R_SHOULDER, 0.18, 0.65), (L_HIP, R_HIP, 0.10, 0.50),
               (L_SHOULDER, L_HIP, 0.28, 0.85), (R_SHOULDER, R_HIP, 0.28, 0.85))
# (inner, outer, min, max): checked from the torso outwards; a bad bone drops its outer joint
LIMB_BONES = ((L_SHOULDER, L_ELBOW, 0.15, 0.48), (R_SHOULDER, R_ELBOW, 0.15, 0.48),
              (L_ELBOW, L_WRIST, 0.12, 0.45), (R_ELBOW, R_WRIST, 0.12, 0.45),
              (L_HIP, L_KNEE, 0.25, 0.65), (R_HIP, R_KNEE, 0.25, 0.65),
              (L_KNEE, L_ANKLE, 0.25, 0.65), (R_KNEE, R_ANKLE, 0.25, 0.65))
# when the middle joint is missing: (root, outer, max reach)
REACH = ((L_SHOULDER, L_WRIST, 0.9), (R_SHOULDER, R_WRIST, 0.9), (L_HIP, L_ANKLE, 1.25), (R_HIP, R_ANKLE, 1.25))


@dataclass
class MultiviewConfig:
    min_score: float = 0.2  # keypoints below this score are not used
    pair_min_joints: int = 3  # joints two detections must share for their pair to count
    pair_max_m: float = 0.15  # median ray distance (m) below which two detections may be one person ...
    pair_conflict_m: float = 0.3  # ... and above which they cannot be in one group
    inlier_rad: float = 0.06  # reprojection inlier threshold, radians (x focal = pixels)
    two_view_max_res: float = 0.45  # a two-view person's mean residual, in units of the inlier threshold
    two_view_min_joints: int = 10  # joints a two-view person needs
    view_min_agree: float = 0.4  # share of a view's joints that must agree with the others
    attach_rad: float = 0.05  # a detection belongs to a person projecting within this (median, radians)
    merge_m: float = 1.0  # two groups this close on the floor (no camera in common) are tried as one person
    merge_min_agree: float = 0.75  # ... and are one when each view of the union agrees on this share of joints
    min_angle_deg: float = 12.0  # narrowest triangulation angle (widest pair of agreeing rays) a joint may have
    good_angle_deg: float = 30.0  # below this angle a joint's confidence goes down with sin(angle)
    min_joints: int = 5  # fewer joints than this: no person
    floor_tol_m: float = 0.25  # how far below the floor a joint may be
    single_view_conf: float = 0.3  # confidence scale of single-view estimates (from prev)
    prev_rad: float = 0.09  # a single view must lie within this (median, radians) of a previous person
    max_speed: float = 2.5  # m/s, for matching prev and time compensation
    compensate_time: bool = True


DEFAULT = MultiviewConfig()


@dataclass
class _Frame:
    """All detections of one time step, stacked."""
    ca: CameraArrays
    cam: np.ndarray  # (N,) camera index into ca
    local: np.ndarray  # (N,) index into the caller's `poses`
    uv: np.ndarray  # (N, J, 2)
    score: np.ndarray  # (N, J), 0 where not usable
    xn: np.ndarray  # (N, J, 2) normalised coordinates
    dirs: np.ndarray  # (N, J, 3) unit world rays
    dt: np.ndarray  # (N,) pose time - t
    valid: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.valid = self.score > 0


@dataclass
class _Person:
    views: list[int]  # detection indices
    X: np.ndarray | None = None
    conf: np.ndarray | None = None
    res: np.ndarray | None = None
    inl: np.ndarray | None = None  # (V, J) inlier mask
    velocity: np.ndarray | None = None


def reconstruct(poses: Sequence[Pose2D], cams: Mapping[str, Camera], t: float,
                prev: Sequence[Pose3D] | None = None, config: MultiviewConfig | None = None) -> list[Pose3D]:
    """3D skeletons at time t from the 2D poses of several cameras (module docstring)."""
    cfg = config or DEFAULT
    fr = _stack(poses, cams, t, cfg)
    if fr is None:
        return []
    N = len(fr.cam)
    status, cost = _pairs(fr, cfg)
    done = _fit_groups(fr, _cluster(fr, status, cost, range(N)), cfg)
    for _ in range(2):
        done = _reassign(fr, done, cfg)
        kept = _explain_away(fr, done, cfg)
        if len(kept) < len(done):
            done = _reassign(fr, kept, cfg)
        used = {v for p in done for v in p.views}
        new = _fit_groups(fr, _cluster(fr, status, cost, [i for i in range(N) if i not in used]), cfg)
        if not new:
            break
        done = _reassign(fr, done + new, cfg)
    n_views = sum(len(p.views) for p in done)
    done = _merge(fr, done, cfg)
    if sum(len(p.views) for p in done) < n_views:  # views left out of a merge may belong to someone else
        done = _reassign(fr, done, cfg)
    if prev and cfg.compensate_time:
        _compensate(fr, done, prev, t, cfg)
    done = _relabel_arms(fr, done, cfg)
    out = []
    for p in done:
        _sanity(p, cfg)
        if _person_shaped(p.X, cfg) and (len(p.views) > 2 or
                                         np.isfinite(p.X).all(1).sum() >= cfg.two_view_min_joints):
            out.append(p)
    used = set(v for p in out for v in p.views)
    if prev:
        out += _single_views(fr, out, prev, [i for i in range(N) if i not in used], t, cfg)
    return [_to_pose3d(fr, p, t) for p in out]


# -- 1. rays ------------------------------------------------------------------------------

def _stack(poses: Sequence[Pose2D], cams: Mapping[str, Camera], t: float, cfg: MultiviewConfig) -> _Frame | None:
    ids = sorted({p.camera for p in poses if p.camera in cams})
    if not ids:
        return None
    ca = CameraArrays.from_cameras([cams[i] for i in ids])
    pos = {c: k for k, c in enumerate(ids)}
    cam, local, kps, dts = [], [], [], []
    for k, p in enumerate(poses):
        if p.camera not in pos:
            continue
        kp = np.asarray(p.keypoints, float).reshape(NJ, 3)
        cam.append(pos[p.camera])
        local.append(k)
        kps.append(kp)
        dts.append(float(p.t) - t)
    kp = np.stack(kps)
    cam_a = np.array(cam)
    uv = kp[..., :2].copy()
    score = np.where(np.isfinite(kp[..., 2]), kp[..., 2], 0.0)
    score = np.where((score >= cfg.min_score) & np.isfinite(uv).all(-1), np.clip(score, 0, 1), 0.0)
    uv[score <= 0] = np.nan
    xn = np.full(uv.shape, np.nan)
    for c, cid in enumerate(ids):
        sel = cam_a == c
        xn[sel] = undistort(cams[cid], uv[sel])
    d = np.concatenate([xn, np.ones(xn.shape[:-1] + (1,))], -1)
    d = np.einsum("nji,nik->njk", d, ca.R[cam_a])  # R^T d per row
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    return _Frame(ca, cam_a, np.array(local), uv, score, xn, d, np.array(dts))


def _median_finite(a: np.ndarray) -> np.ndarray:
    """Median over the last axis of the finite values (inf where none); faster than nanmedian."""
    ok = np.isfinite(a)
    n = ok.sum(-1)
    srt = np.sort(np.where(ok, a, np.inf), axis=-1)
    idx = np.maximum(n - 1, 0)
    lo = np.take_along_axis(srt, (idx // 2)[..., None], -1)[..., 0]
    hi = np.take_along_axis(srt, ((idx + 1) // 2)[..., None], -1)[..., 0]
    return np.where(n > 0, (lo + hi) / 2, np.inf)


# -- 2. pairs -----------------------------------------------------------------------------

def _pairs(fr: _Frame, cfg: MultiviewConfig) -> tuple[np.ndarray, np.ndarray]:
    """status (N, N): 1 consistent, -1 contradicting, 0 unknown; cost (N, N) median ray distance."""
    N = len(fr.cam)
    status = np.zeros((N, N), np.int8)
    cost = np.full((N, N), np.inf)
    I, J = np.triu_indices(N, 1)
    keep = fr.cam[I] != fr.cam[J]
    I, J = I[keep], J[keep]
    if not len(I):
        return status, cost
    o = fr.ca.centers
    dist, mid, s, u = ray_closest(o[fr.cam[I]][:, None], fr.dirs[I], o[fr.cam[J]][:, None], fr.dirs[J])
    shared = fr.valid[I] & fr.valid[J] & np.isfinite(dist) & (s > 0.2) & (u > 0.2)
    n = shared.sum(1)
    d = np.where(shared, dist, np.nan)
    enough = n >= cfg.pair_min_joints
    med = np.where(enough, _median_finite(d), np.inf)
    z = np.where(shared, mid[..., 2], np.nan)
    with np.errstate(invalid="ignore"):
        in_range = ((z > -0.4) & (z < 2.4)).sum(1) >= 0.8 * n
        ank = z[:, list(ANKLES)]
        head = z[:, list(HEAD)]
        ank_min = np.where(np.isfinite(ank), ank, np.inf).min(1)
        head_max = np.where(np.isfinite(head), head, -np.inf).max(1)
        feet_ok = (ank_min <= 0.7) | np.isinf(ank_min)
        head_ok = (head_max >= 0.5) | np.isinf(head_max)
    plausible = in_range & feet_ok & head_ok
    good = enough & plausible & (med < cfg.pair_max_m)
    # a contradiction blocks a group; only a clear one does (noise and unsynchronised frames blur pairs)
    bad = enough & (~plausible | (med > cfg.pair_conflict_m))
    st = np.where(good, 1, np.where(bad, -1, 0)).astype(np.int8)
    status[I, J] = status[J, I] = st
    cost[I, J] = cost[J, I] = np.where(good, med, np.inf)
    return status, cost


# -- 3. grouping ----------------------------------------------------------------------------

def _cluster(fr: _Frame, status: np.ndarray, cost: np.ndarray, subset) -> list[list[int]]:
    """Groups of the detections in `subset` (greedy, cheapest consistent pair first, complete linkage)."""
    N = len(fr.cam)
    sub = np.zeros(N, bool)
    sub[list(subset)] = True
    I, J = np.nonzero(np.triu(status == 1) & sub[:, None] & sub[None, :])
    order = np.argsort(cost[I, J], kind="stable")
    group = list(range(N))
    members: dict[int, list[int]] = {i: [i] for i in np.nonzero(sub)[0]}
    cams: dict[int, set[int]] = {i: {int(fr.cam[i])} for i in members}
    for k in order:
        a, b = group[I[k]], group[J[k]]
        if a == b or cams[a] & cams[b]:
            continue
        if (status[np.ix_(members[a], members[b])] == -1).any():
            continue
        for m in members[b]:
            group[m] = a
        members[a] += members.pop(b)
        cams[a] |= cams.pop(b)
    return [sorted(m, key=lambda i: fr.cam[i]) for m in members.values()]


# -- 4. robust triangulation --------------------------------------------------------------------

def _fit_slots(fr: _Frame, slot: np.ndarray, vel: np.ndarray, cfg: MultiviewConfig
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Robust triangulation of P people at once.

    slot (P, C): each person's detection per camera (-1: none); vel (P, 3)
    velocities for time compensation. Returns X (P, J, 3), confidence (P, J),
    residual px (P, J) and inliers (P, C, J).
    """
    ca = fr.ca
    P, C = slot.shape
    has = slot >= 0
    s0 = np.where(has, slot, 0)
    w = np.where(has[..., None], fr.score[s0], 0.0)  # (P, C, J)
    valid = w > 0
    xn = fr.xn[s0]  # (P, C, J, 2)
    uv = fr.uv[s0]
    Rt = np.broadcast_to(ca.Rt, (P, C, 3, 4)).copy()
    dt = np.where(has, fr.dt[s0], 0.0)  # (P, C)
    # an observation at t + dt of a body moving at v is the body at t seen from a camera moved by -v dt
    Rt[..., 3] += np.einsum("cij,pj->pci", ca.R, vel) * dt[..., None]
    tv = Rt[..., 3]  # (P, C, 3)
    f = ca.focal
    thr = cfg.inlier_rad * f  # (C,) pixels
    # every pair of a person's views is a hypothesis; score it by the views that agree (MSAC)
    hp, ha, hb = [], [], []  # person, camera a, camera b of each hypothesis (flat: people have few views)
    for p in range(P):
        cs = np.nonzero(has[p])[0]
        for x, y in combinations(cs, 2):
            hp.append(p)
            ha.append(x)
            hb.append(y)
    if hp:
        hp, ha, hb = np.array(hp), np.array(ha), np.array(hb)
        pair = np.stack([ha, hb], 1)  # (N, 2)
        Rth = Rt[hp[:, None], pair]  # (N, 2, 3, 4)
        xh = xn[hp[:, None], pair].transpose(0, 2, 1, 3)  # (N, J, 2, 2)
        wh = w[hp[:, None], pair].transpose(0, 2, 1)  # (N, J, 2)
        Xh = triangulate_ls(Rth[:, None], xh, wh, f[pair][:, None], iters=1)  # (N, J, 3)
        uvh, _ = ca.project_all(Xh, tv[hp])  # (N, C, J, 2)
        err = np.linalg.norm(uvh - uv[hp], axis=-1)  # (N, C, J)
        ok = valid[hp] & (err < thr[:, None])
        sc = np.where(ok, w[hp] * (1 - (np.where(ok, err, 0) / thr[:, None]) ** 2), 0).sum(1)  # (N, J)
        sc[~np.isfinite(Xh).all(-1)] = -1
        _gate_arms(Xh, sc, hp, P)
        # best hypothesis per person and joint: pad into (P, Hmax, J)
        slot_h = np.zeros(len(hp), int)
        counts = np.zeros(P, int)
        for k, p in enumerate(hp):
            slot_h[k] = counts[p]
            counts[p] += 1
        S = np.full((P, counts.max(), NJ), -np.inf)
        S[hp, slot_h] = sc
        best = np.argmax(S, 1)  # (P, J)
        index = np.full((P, counts.max()), 0)
        index[hp, slot_h] = np.arange(len(hp))
        pick = np.take_along_axis(index, best, 1)  # (P, J) hypothesis index
        inl = ok[pick, :, np.arange(NJ)[None, :]].transpose(0, 2, 1)  # (P, C, J)
        inl &= (counts > 0)[:, None, None]
    else:
        inl = np.zeros_like(valid)
    X = triangulate_ls(Rt[:, None], xn.transpose(0, 2, 1, 3), np.where(inl, w, 0).transpose(0, 2, 1),
                       f[None, None], iters=2)  # (P, J, 3)
    uvp, depth = ca.project_all(X, tv)  # (P, C, J, 2)
    err = np.linalg.norm(uvp - uv, axis=-1)
    inl &= (err < 1.5 * thr[:, None]) & (depth > 0)
    n = inl.sum(1)  # (P, J)
    X[n < 2] = np.nan
    # triangulation angle: the widest pair of agreeing rays
    d = X[:, None] - ca.centers[None, :, None]  # (P, C, J, 3)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    cos = np.einsum("pcjk,pejk->pcej", d, d)
    cos = np.where(inl[:, :, None] & inl[:, None], cos, 1.0)
    widest = np.arccos(np.clip(cos.min((1, 2)), -1, 1))  # (P, J) radians
    # rays meeting at a narrow angle fix the depth badly: a pixel of noise moves the point by
    # distance x noise / sin(angle) along the rays
    X[widest < np.radians(cfg.min_angle_deg)] = np.nan
    good = np.isfinite(X).all(-1)  # (P, J)
    inl &= good[:, None]
    n = inl.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        n1 = np.maximum(n, 1)
        res = np.where(good, np.where(inl, err, 0).sum(1) / n1, np.nan)
        s_mean = np.where(inl, w, 0).sum(1) / n1
        thr_j = np.where(inl, thr[None, :, None], 0).sum(1) / n1
        conf = s_mean * np.where(n >= 4, 1.0, np.where(n == 3, 0.95, 0.8)) / (1 + (res / thr_j) ** 2) * \
            np.minimum(np.sin(widest) / np.sin(np.radians(cfg.good_angle_deg)), 1.0)
    conf = np.where(good, conf, 0.0)
    return X, conf, res, inl


# (elbow or wrist, metres from its shoulder at most): the bounds sanity checks them by
ARM_REACH = tuple((b, hi) for a, b, _, hi in LIMB_BONES if a in (L_SHOULDER, R_SHOULDER)) + \
    tuple((b, hi) for a, b, hi in REACH if a in (L_SHOULDER, R_SHOULDER))


def _gate_arms(Xh: np.ndarray, sc: np.ndarray, hp: np.ndarray, P: int) -> None:
    """Rule out arm hypotheses no shoulder of that person can reach (in place: score -1).

    A reaching wrist is often scored low by the network in the views that see it right and high in a
    view that caught another arm; two such wrong rays meet somewhere, and that point can win on score
    alone. Each person's shoulders, from their own best hypotheses, bound where its elbows and wrists
    can be (either shoulder: views may not agree on the sides yet)."""
    best = np.full((P, 2, 3), np.nan)
    for i, j in enumerate((L_SHOULDER, R_SHOULDER)):
        for p in range(P):
            k = np.flatnonzero(hp == p)
            if len(k) and sc[k, j].max() > 0:
                best[p, i] = Xh[k[np.argmax(sc[k, j])], j]
    sh = best[hp]  # (N, 2, 3)
    for j, limit in ARM_REACH:
        d = np.linalg.norm(Xh[:, None, j] - sh, axis=-1)  # (N, 2)
        known = np.isfinite(d).any(1)
        far = known & ~(np.fmin(d[:, 0], d[:, 1]) <= limit)
        sc[far, j] = -1


def _fit_many(fr: _Frame, views: list[list[int]], cfg: MultiviewConfig,
              vel: list[np.ndarray | None] | None = None) -> list[_Person | None]:
    """Fit people from their detections; views that agree on too few of their joints are taken out.

    Returns one _Person per input (None when fewer than 2 views or too few joints stay).
    """
    P, C = len(views), len(fr.ca.ids)
    out: list[_Person | None] = [None] * P
    if not P:
        return out
    slot = np.full((P, C), -1)
    for k, vs in enumerate(views):
        slot[k, fr.cam[vs]] = vs
    V = np.zeros((P, 3)) if vel is None else np.stack([np.zeros(3) if v is None else v for v in vel])
    todo = np.arange(P)
    while len(todo):
        sl = slot[todo]
        X, conf, res, inl = _fit_slots(fr, sl, V[todo], cfg)
        has = sl >= 0
        nvalid = np.where(has, fr.valid[np.where(has, sl, 0)].sum(-1), 0)  # (p, C)
        agree = np.where(has, inl.sum(-1) / np.maximum(nvalid, 1), np.inf)
        bad = (agree < cfg.view_min_agree) & (nvalid >= 3)
        nj = np.isfinite(X).all(-1).sum(-1)
        nv = has.sum(1)
        few = (nj < cfg.min_joints) & (nv > 2)
        bad[few] |= agree[few] <= agree[few].min(1, keepdims=True)
        again = []
        for i, k in enumerate(todo):
            if bad[i].any():
                c = int(np.argmin(np.where(bad[i], agree[i], np.inf)))
                slot[k, c] = -1
                if (slot[k] >= 0).sum() >= 2:
                    again.append(k)
                continue
            good = np.isfinite(X[i]).all(1)
            if good.sum() < cfg.min_joints:
                continue
            cams = np.nonzero(has[i])[0]
            if len(cams) == 2 and (good.sum() < cfg.two_view_min_joints or np.mean(res[i][good]) / (
                    cfg.inlier_rad * fr.ca.focal[cams].mean()) > cfg.two_view_max_res):
                continue  # two views always roughly agree: demand that they agree well, on much of the body
            out[k] = _Person([int(slot[k, c]) for c in cams], X[i], conf[i], res[i], inl[i][cams],
                             None if vel is None else vel[k])
        todo = np.array(again, int)
    return out


def _fit_groups(fr: _Frame, groups: list[list[int]], cfg: MultiviewConfig) -> list[_Person]:
    return [p for p in _fit_many(fr, [g for g in groups if len(g) >= 2], cfg) if p is not None]


# -- 5. re-assignment ----------------------------------------------------------------------------

def _reassign(fr: _Frame, people: list[_Person], cfg: MultiviewConfig) -> list[_Person]:
    """Give every detection to the person whose skeleton projects onto it (one per person and camera), refit.

    Corrects the greedy grouping where two people stand close: a wrongly
    grouped view hardly moves the robust fit, so the fitted skeletons tell
    the views apart far better than pairs of rays did.
    """
    if not people:
        return people
    C, P = len(fr.ca.ids), len(people)
    X = np.stack([p.X for p in people])  # (P, J, 3)
    vel = [p.velocity for p in people]
    uvp, _ = fr.ca.project(np.arange(C)[:, None, None], X[None])  # (C, P, J, 2)
    err = np.linalg.norm(uvp[fr.cam] - fr.uv[:, None], axis=-1) / fr.ca.focal[fr.cam][:, None, None]  # (N, P, J)
    ok = np.isfinite(err)
    n = ok.sum(-1)
    med = _median_finite(err)
    cost = np.where((n >= 3) & (med < cfg.attach_rad), med, np.inf)
    views: list[list[int]] = [[] for _ in range(P)]
    for c in np.unique(fr.cam):
        rows = np.nonzero(fr.cam == c)[0]
        sub = cost[rows]
        if not np.isfinite(sub).any():
            continue
        r, k = linear_sum_assignment(np.where(np.isfinite(sub), sub, 1e6))
        for a, b in zip(r, k):
            if np.isfinite(sub[a, b]):
                views[b].append(int(rows[a]))
    out, refit, refit_vel = [], [], []
    for p, v, ve in zip(people, views, vel):
        v.sort(key=lambda i: fr.cam[i])
        if v == p.views:
            out.append(p)
        elif len(v) >= 2:
            refit.append(v)
            refit_vel.append(ve)
    return out + [q for q in _fit_many(fr, refit, cfg, refit_vel) if q is not None]


def _explain_away(fr: _Frame, people: list[_Person], cfg: MultiviewConfig) -> list[_Person]:
    """Drop two-view people whose detections other people (lacking those cameras) explain as well.

    A "ghost" made of person A's view in one camera and person B's in another
    explains its own two views perfectly, so it survives any assignment; but
    A and B, found in other cameras, project onto those views too.
    """
    P = len(people)
    if P < 2:
        return people
    X = np.stack([p.X for p in people])
    cams = [{int(fr.cam[v]) for v in p.views} for p in people]
    drop = set()
    for k in sorted(range(P), key=lambda k: -np.nanmean(people[k].res)):
        p = people[k]
        if len(p.views) != 2:
            continue
        others = [q for q in range(P) if q != k and q not in drop and len(people[q].views) >= 2]
        if not others:
            continue
        explained = 0
        for d in p.views:
            c = int(fr.cam[d])
            cand = [q for q in others if c not in cams[q]]
            if not cand:
                continue
            uvp, _ = fr.ca.project(np.array([c]), X[cand])  # (n, J, 2)
            err = np.linalg.norm(uvp - fr.uv[d], axis=-1) / fr.ca.focal[c]
            for e in err:
                e = e[np.isfinite(e)]
                if len(e) >= 3 and np.median(e) < cfg.attach_rad:
                    explained += 1
                    break
        if explained:
            drop.add(k)
    return [p for k, p in enumerate(people) if k not in drop]


def _centroid(X: np.ndarray) -> np.ndarray:
    ok = np.isfinite(X).all(1)
    return X[ok].mean(0) if ok.any() else np.full(3, np.nan)


def _merge(fr: _Frame, people: list[_Person], cfg: MultiviewConfig) -> list[_Person]:
    """Two groups near each other may be one person split in two, with perhaps someone else's view caught in
    one of them (which then holds a camera the other has too). Fit the union of one group with the other's
    views in its other cameras; it is one person when the union keeps all those views but at most one."""
    for _ in range(3):
        P = len(people)
        if P < 2:
            break
        cams = [{int(fr.cam[v]) for v in p.views} for p in people]
        cen = np.array([_centroid(p.X)[:2] for p in people])
        cands, unions = [], []
        for a, b in combinations(range(P), 2):
            if np.linalg.norm(cen[a] - cen[b]) >= cfg.merge_m:
                continue
            for x, y in ((a, b), (b, a)):
                extra = [v for v in people[y].views if int(fr.cam[v]) not in cams[x]]
                if len(people[y].views) - len(extra) > 1 or not extra:
                    continue  # they share more than one camera: two people
                cands.append((x, y, len(people[x].views) + len(extra)))
                unions.append(sorted(people[x].views + extra, key=lambda i: fr.cam[i]))
                if len(extra) == len(people[y].views):
                    break  # disjoint: one union is enough
        if not cands:
            break
        scored = []
        for (x, y, n_in), q in zip(cands, _fit_many(fr, unions, cfg)):
            if q is None or len(q.views) < n_in - 1:
                continue
            nvalid = fr.valid[q.views].sum(1)
            if (q.inl.sum(1) < cfg.merge_min_agree * nvalid).any():
                continue  # every view of one person agrees on nearly all its joints; two people's do not
            nj = np.isfinite(q.X).all(1).sum()
            if nj < max(np.isfinite(people[x].X).all(1).sum(), np.isfinite(people[y].X).all(1).sum()) - 2:
                continue
            scored.append((-len(q.views), float(np.nanmean(q.res)), x, y, q))
        if not scored:
            break
        scored.sort(key=lambda s_: (s_[0], s_[1]))
        taken: set[int] = set()
        merged = []
        for _, _, x, y, q in scored:
            if x in taken or y in taken:
                continue
            taken |= {x, y}
            merged.append(q)
        people = [p for k, p in enumerate(people) if k not in taken] + merged
    return people


def _compensate(fr: _Frame, people: list[_Person], prev: Sequence[Pose3D], t: float, cfg: MultiviewConfig) -> None:
    """Velocity from prev; refit each person with every view moved to time t."""
    if not people or np.max(np.abs(fr.dt)) < 1e-4:
        return
    cur = np.array([_centroid(p.X) for p in people])
    pv = [q for q in prev if 0.02 < t - q.t < 0.6]
    if not pv:
        return
    old = np.array([_centroid(q.joints) for q in pv])
    dtp = np.array([t - q.t for q in pv])
    D = np.linalg.norm(cur[:, None, :2] - old[None, :, :2], axis=-1)
    gate = 0.15 + cfg.max_speed * dtp[None, :]
    C = np.where(np.isfinite(D) & (D < gate), D, 1e6)
    r, c = linear_sum_assignment(C)
    idx, vels = [], []
    for a, b in zip(r, c):
        if C[a, b] >= 1e6:
            continue
        # velocity over the joints both estimates have (whole-body mean: steadier than any joint)
        ok = np.isfinite(people[a].X).all(1) & np.isfinite(pv[b].joints).all(1)
        if ok.sum() < 3:
            continue
        vel = (people[a].X[ok] - pv[b].joints[ok]).mean(0) / dtp[b]
        vel[2] = 0.0
        sp = np.linalg.norm(vel)
        if sp > cfg.max_speed:
            vel *= cfg.max_speed / sp
        if sp * np.max(np.abs(fr.dt[people[a].views])) < 0.002:
            continue
        idx.append(a)
        vels.append(vel)
    for a, q in zip(idx, _fit_many(fr, [people[a].views for a in idx], cfg, vels)):
        if q is not None:
            people[a] = q


# -- 6. sanity ---------------------------------------------------------------------------------

def _drop(p: _Person, j: int) -> None:
    p.X[j] = np.nan
    p.conf[j] = 0.0
    p.res[j] = np.nan


_BONES = TORSO_BONES + LIMB_BONES + tuple((a, b, 0.0, hi) for a, b, hi in REACH)
_BA = np.array([b[0] for b in _BONES])
_BB = np.array([b[1] for b in _BONES])
_BLO = np.array([b[2] for b in _BONES])
_BHI = np.array([b[3] for b in _BONES])


def _looks_fine(X: np.ndarray, cfg: MultiviewConfig) -> bool:
    """The quick, vectorised form of every check in _sanity: True when none fails."""
    with np.errstate(invalid="ignore"):
        z = X[:, 2]
        if (z < -cfg.floor_tol_m).any() or (z[list(ANKLES)] > 0.8).any():
            return False
        L = np.linalg.norm(X[_BA] - X[_BB], axis=1)
        if ((L < _BLO) | (L > _BHI)).any():
            return False
        H = X[list(HEAD)]
        okh = np.isfinite(H).all(1)
        if okh.any():
            c = np.median(H[okh], axis=0)
            if (np.linalg.norm(H[okh] - c, axis=1) > 0.25).any():
                return False
            S = X[[L_SHOULDER, R_SHOULDER]]
            oks = np.isfinite(S).all(1)
            if oks.any() and (np.linalg.norm(H[okh] - S[oks].mean(0), axis=1) > 0.6).any():
                return False
    return True


def _sanity(p: _Person, cfg: MultiviewConfig) -> None:
    X = p.X
    if _looks_fine(X, cfg):
        return
    ok = lambda j: bool(np.isfinite(X[j]).all())  # noqa: E731
    for j in range(NJ):  # below the floor
        if ok(j) and X[j, 2] < -cfg.floor_tol_m:
            _drop(p, j)
    for j in ANKLES:  # feet near the floor
        if ok(j) and X[j, 2] > 0.8:
            _drop(p, j)
    for a, b, lo, hi in TORSO_BONES:
        if ok(a) and ok(b):
            L = np.linalg.norm(X[a] - X[b])
            if not lo <= L <= hi:
                _drop(p, a if p.conf[a] < p.conf[b] else b)
    for a, b, lo, hi in LIMB_BONES:
        if ok(a) and ok(b):
            L = np.linalg.norm(X[a] - X[b])
            if not lo <= L <= hi:
                _drop(p, b)
    for a, b, hi in REACH:
        if ok(a) and ok(b) and np.linalg.norm(X[a] - X[b]) > hi:
            _drop(p, b)
    # face joints stay near each other and above the shoulders' height minus a bit
    head = [j for j in HEAD if ok(j)]
    if head:
        c = np.median(X[head], axis=0)
        for j in head:
            if np.linalg.norm(X[j] - c) > 0.25:
                _drop(p, j)
        sh = [j for j in (L_SHOULDER, R_SHOULDER) if ok(j)]
        if sh:
            s = X[sh].mean(0)
            for j in HEAD:
                if ok(j) and np.linalg.norm(X[j] - s) > 0.6:
                    _drop(p, j)


def _person_shaped(X: np.ndarray, cfg: MultiviewConfig) -> bool:
    ok = np.isfinite(X).all(1)
    if ok.sum() < cfg.min_joints:
        return False
    z = X[ok, 2]
    if z.max() < 0.45 or z.max() > 2.5 or z.min() > 1.3:
        return False
    xy = X[ok, :2]
    return bool(np.linalg.norm(xy - np.median(xy, 0), axis=1).max() < 1.5)


# -- 7. memory -----------------------------------------------------------------------------------

def _single_views(fr: _Frame, found: list[_Person], prev: Sequence[Pose3D], left: list[int], t: float,
                  cfg: MultiviewConfig) -> list[_Person]:
    """Previous people not found now, seen by exactly one leftover detection: keep them at low confidence."""
    if not left:
        return []
    cur = np.array([_centroid(p.X)[:2] for p in found]).reshape(-1, 2)
    cands = []
    for q in prev:
        c = _centroid(q.joints)
        if not np.isfinite(c).all() or not 0 <= t - q.t < 1.0:
            continue
        if len(cur) and np.linalg.norm(cur - c[:2], axis=1).min() < 0.5:
            continue  # found again from several views
        cands.append(q)
    if not cands:
        return []
    L = np.array(left)
    if found:  # a leftover on someone found now is that person seen twice (a duplicate), not a lost one
        X = np.stack([p.X for p in found])
        uvp, _ = fr.ca.project_all(X)  # (P, C, J, 2)
        err = np.linalg.norm(uvp[:, fr.cam[L]] - fr.uv[L][None], axis=-1) / fr.ca.focal[fr.cam[L]][None, :, None]
        L = L[~(_median_finite(err) < cfg.attach_rad).any(0)]
        if not len(L):
            return []
    cost = np.full((len(L), len(cands)), np.inf)
    for k, q in enumerate(cands):
        uvp, _ = fr.ca.project(fr.cam[L][:, None], q.joints[None])
        err = np.linalg.norm(uvp - fr.uv[L], axis=-1) / fr.ca.focal[fr.cam[L]][:, None]
        for i in range(len(L)):
            e = err[i][np.isfinite(err[i])]
            if len(e) >= cfg.min_joints:
                m = float(np.median(e))
                if m < cfg.prev_rad:
                    cost[i, k] = m
    if not np.isfinite(cost).any():
        return []
    r, c = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
    out = []
    for i, k in zip(r, c):
        if not np.isfinite(cost[i, k]):
            continue
        d = int(L[i])
        q = cands[k]
        o = fr.ca.centers[fr.cam[d]]
        ref = q.joints.copy()
        miss = ~np.isfinite(ref).all(1)
        ref[miss] = _centroid(q.joints)
        depth = ((ref - o) * fr.dirs[d]).sum(1)  # along each ray, as far as the previous joint
        X = o + depth[:, None] * fr.dirs[d]
        good = fr.valid[d] & np.isfinite(X).all(1) & (depth > 0)
        X[~good] = np.nan
        p = _Person([d], X=X, conf=np.where(good, cfg.single_view_conf * fr.score[d], 0.0),
                    res=np.where(good, 0.0, np.nan), inl=good[None])
        _sanity(p, cfg)
        if _person_shaped(p.X, cfg):
            out.append(p)
    return out


TWIN_M = 0.1  # a pair's two joints this close were fitted onto one limb


def _swap_joints(fr: _Frame, v: int, a: int, b: int) -> None:
    for arr in (fr.uv, fr.score, fr.xn, fr.dirs, fr.valid):
        arr[v, [a, b]] = arr[v, [b, a]]


def _relabel_arms(fr: _Frame, people: list[_Person], cfg: MultiviewConfig) -> list[_Person]:
    """Give each view's elbows and wrists the sides that agree with the other views, then refit.

    Seen from above, a camera often cannot tell a person's left arm from the right; per joint
    RANSAC then keeps the views of the majority labelling and drops the others, or lands both
    wrists on one hand. Here each view's arm pair is swapped when the swap projects closer to the
    fitted skeleton, and the person is fitted again with every view agreeing; finally the sides are set
    by the body (`_sides_by_body`)."""
    if not people:
        return people
    ca = fr.ca
    changed = []
    for k, p in enumerate(people):
        if p.X is None:
            continue
        dirty = False
        for a, b in ARM_PAIRS:
            Xa, Xb = p.X[a], p.X[b]
            if np.isfinite(Xa).all() and np.isfinite(Xb).all() and np.linalg.norm(Xa - Xb) < TWIN_M:
                Xb = np.full(3, np.nan)  # both on one hand: a takes that hand in every view, b the other
            for v in p.views:
                if not (fr.valid[v, a] and fr.valid[v, b]):
                    continue
                c = int(fr.cam[v])
                if not (np.isfinite(Xa).all() or np.isfinite(Xb).all()):
                    continue
                proj = {}
                for name, X in (("a", Xa), ("b", Xb)):
                    if np.isfinite(X).all():
                        uvp, _ = ca.project_all(X[None])  # (C, 1, 2)
                        proj[name] = uvp[c, 0]
                uva, uvb = fr.uv[v, a], fr.uv[v, b]
                if "a" in proj and "b" in proj:
                    keep = np.linalg.norm(uva - proj["a"]) + np.linalg.norm(uvb - proj["b"])
                    swap = np.linalg.norm(uvb - proj["a"]) + np.linalg.norm(uva - proj["b"])
                elif "a" in proj:  # one side lost: the view point nearer the found one keeps its label
                    keep, swap = np.linalg.norm(uva - proj["a"]), np.linalg.norm(uvb - proj["a"])
                else:
                    keep, swap = np.linalg.norm(uvb - proj["b"]), np.linalg.norm(uva - proj["b"])
                if swap + 1e-6 < keep:
                    _swap_joints(fr, v, a, b)
                    dirty = True
        if dirty:
            changed.append(k)
    if changed:
        refit = _fit_many(fr, [people[k].views for k in changed], cfg, [people[k].velocity for k in changed])
        for k, q in zip(changed, refit):
            if q is not None:
                people[k] = q
    for p in people:
        _sides_by_body(p)
    return people


def _sides_by_body(p: _Person) -> None:
    """The arms' sides set by the body: the left shoulder on the left hip's side (the network tells legs
    apart, and a torso hardly twists), then the left elbow and wrist on the left shoulder's side of the
    midline (both swapped together when most of the arm lies on the other side)."""
    X = p.X
    if X is None:
        return
    ls, rs = ARM_PAIRS[0]
    hips = X[L_HIP, :2] - X[R_HIP, :2]  # right hip -> left hip
    if np.isfinite(X[[ls, rs, L_HIP, R_HIP]]).all() and np.dot(X[ls, :2] - X[rs, :2], hips) < 0:
        _swap_person(p, ARM_PAIRS[:1])
    if not np.isfinite(X[[ls, rs]]).all():
        return
    axis = X[ls, :2] - X[rs, :2]  # right shoulder -> left shoulder
    mid = (X[ls, :2] + X[rs, :2]) / 2
    limbs = ARM_PAIRS[1:]
    side = [np.dot(X[a, :2] - mid, axis) - np.dot(X[b, :2] - mid, axis)
            for a, b in limbs if np.isfinite(X[[a, b]]).all()]
    if side and sum(side) < 0:
        _swap_person(p, limbs)


def _swap_person(p: _Person, pairs) -> None:  # noqa: ANN001
    for a, b in pairs:
        for arr in (p.X, p.conf, p.res):
            if arr is not None:
                arr[[a, b]] = arr[[b, a]]
        if p.inl is not None:
            p.inl[:, [a, b]] = p.inl[:, [b, a]]


def _to_pose3d(fr: _Frame, p: _Person, t: float) -> Pose3D:
    ca = fr.ca
    views = [(ca.ids[int(fr.cam[v])], int(fr.local[v])) for v in p.views]
    return Pose3D(t=float(t), joints=p.X.astype(float), confidence=np.clip(p.conf, 0, 1).astype(float),
                  residual_px=p.res.astype(float), views=views)
