"""Training data for the 2D pose network: person crops from synthetic-store renders.

Everything derives from (seed, scenario index), so a seed always gives the same
crops, whatever the number of worker processes. For each scenario:

- a store preset, a camera rig (auto placement with a random mount height, spacing
  and resolution) and a random shopping story (`data.random_scenario.build`, then
  `data.choreography.choreograph` for the truth World);
- per camera (the MAX_CAMERAS of the rig that see the most people), clips of 2 frames
  at 15 fps, half of them started while somebody's hand is in a bin (reaches are
  what the engine needs wrists for), the rest anywhere people are in the store, or
  (`GenConfig.handover_clips`) while two shoppers hold their hands out to each other
  in a hand-over: an arm held out toward a partner, the partner's hand beside it;
- each clip frame rendered (`data.render.CameraRenderer`, sometimes with a lighting
  gain) and passed through real H.264 (libx264 as the recordings are written, at a
  random CRF) and back, so the crops carry the artefacts seen at inference;
- every person in view: truth joints projected into the image (distortion
  included), per-joint visibility (`visibility`: hidden by the store, by other people's
  drawn figures or by their own body), a "detector" box (the
  drawn figure's extent, or only its visible part, jittered: loose, tight, shifted,
  sometimes cut), and the crop the engine would cut around that box
  (`model.crop`), with the joints in crop pixels.

The arrays are cached as an .npz under the system temp dir (never in git).
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from data.camera_placement import auto_cameras
from data.cameras import Camera
from data.errors import ScenarioError
from data.random_scenario import Knobs, training_world
from data.render import (HAIR, HEAD, L_HAND, L_HEEL, L_TOE, MID, N_POINTS, NECK, PELVIS, R_HAND, R_HEEL, R_TOE,
                         CameraRenderer, body_points)
from data.world import (L_ANKLE, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, R_ANKLE, R_ELBOW, R_HIP, R_KNEE,
                        R_SHOULDER, R_WRIST, World)
from data.scenario import AutoCameras
from data.store_source import load_store
from data.video_io import ColourWriter, read_frames

from engine.pose2d.model import INPUT_SIZE, NUM_JOINTS, crop

VERSION = 1  # bump when the generator changes: the cache key includes it
STORES = ("corner-store", "go-store")
RESOLUTIONS = ((640, 480), (640, 480), (640, 480), (800, 600), (512, 384))
MAX_CAMERAS = 6
CLIP_FRAMES = 2
FPS = 15.0
MIN_BOX_PX = 20  # people smaller than this (box height) are skipped
MIN_JOINTS_IN_IMAGE = 5
MIN_VISIBLE = 4


@dataclass(frozen=True)
class GenConfig:
    """How much to generate; the defaults are the training set's."""
    scenarios: int = 24
    clips_per_camera: int = 48
    duration_s: tuple[float, float] = (30.0, 50.0)
    people: tuple[int, int] = (4, 8)
    stores: tuple[str, ...] = STORES
    max_cameras: int = MAX_CAMERAS
    h264: bool = True
    handovers: tuple[int, int] = (0, 1)  # hand-overs per story (inclusive range)
    handover_clips: float = 0.0  # share of clips started during a hand-over (taken from the 'anywhere' half)

    def key(self, seed: int) -> str:
        txt = repr((VERSION, seed, asdict(self)))
        return hashlib.sha1(txt.encode()).hexdigest()[:12]


# -- one scenario ------------------------------------------------------------------------------

def _world(rng: np.random.Generator, seed: int, cfg: GenConfig):
    store_name = cfg.stores[int(rng.integers(len(cfg.stores)))]
    store, catalog = load_store(store_name)
    w, h = RESOLUTIONS[int(rng.integers(len(RESOLUTIONS)))]
    auto = AutoCameras(height_m=float(rng.uniform(2.9, 3.5)), spacing_m=float(rng.choice([2.0, 2.5, 3.0])),
                       width=w, height=h)
    try:
        cams = auto_cameras(store, auto)
    except ScenarioError:
        cams = auto_cameras(store, AutoCameras(width=w, height=h))
    k = Knobs(seed=seed, store=store_name, duration_s=float(rng.uniform(*cfg.duration_s)),
              people=int(rng.integers(cfg.people[0], cfg.people[1] + 1)), parties=int(rng.integers(0, 3)),
              associates=int(rng.random() < 0.3), crowding=float(rng.uniform(0.5, 1.0)), items=(1, 4),
              simultaneous=float(rng.uniform(0.1, 0.5)),
              handovers=int(rng.integers(cfg.handovers[0], cfg.handovers[1] + 1)),
              touches=0.2, camera_width=w, camera_height=h)
    return store, catalog, cams, training_world(k, store, catalog, [c.id for c in cams], "pose dataset")


HANDOVER_WINDOW_S = (-0.55, 0.45)  # around a hand-over event's time: both arms held out (data.choreography.Meet)


def handover_windows(world: World) -> list[tuple[float, float, str, str]]:
    """(t0, t1, giver, receiver) of every hand-over, while both hold a hand out."""
    return [(float(e["t"]) + HANDOVER_WINDOW_S[0], float(e["t"]) + HANDOVER_WINDOW_S[1], str(e["person"]),
             str(e["to"])) for e in world.events if e["kind"] == "hand_over"]


def _clip_starts(rng: np.random.Generator, world: World, n: int, handover_share: float = 0.0) -> np.ndarray:
    """Clip start times: half in reaches (a hand in a bin), half anywhere people are in the store, of which
    the first round(n * handover_share) during hand-overs when the story has any."""
    present = np.isfinite(world.joints[:, :, 0, 0]).any(1)
    t_pres = world.times[present]
    t_pres = t_pres[t_pres < world.duration_s - 0.3]
    if not len(t_pres):
        return np.zeros(0)
    reach = [(h.t_in - 0.4, h.t_out + 0.2) for h in world.hands_in_bins]
    hand = handover_windows(world)
    n_hand = int(round(n * handover_share)) if hand else 0
    out = []
    for i in range(n):
        if reach and i % 2 == 0:
            a, b = reach[int(rng.integers(len(reach)))]
            out.append(rng.uniform(a, b))
        elif i % 2 == 1 and i // 2 < n_hand:
            a, b, _, _ = hand[int(rng.integers(len(hand)))]
            out.append(rng.uniform(a, b - 1 / FPS))
        else:
            out.append(t_pres[int(rng.integers(len(t_pres)))] + rng.uniform(0, 1 / 30))
    return np.asarray(out)


def _frame_times(starts: np.ndarray, duration: float) -> np.ndarray:
    t = (np.asarray(starts)[:, None] + np.arange(CLIP_FRAMES)[None] / FPS).ravel()
    t = np.round(t[(t > 0) & (t < duration)], 3)
    return np.unique(t)


def _h264(frames: list[np.ndarray], times: np.ndarray, crf: int) -> list[np.ndarray]:
    """The frames after an H.264 encode/decode round trip (as the recordings store them)."""
    if not frames:
        return []
    H, W = frames[0].shape[:2]
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="walkout-pose-")
    os.close(fd)
    try:
        with ColourWriter(path, W, H, FPS, crf=crf) as w:
            for f, t in zip(frames, times):
                w.write(f, float(t))
        out = [img for _, img in read_frames(path)]
    finally:
        os.unlink(path)
    if len(out) != len(frames):
        raise RuntimeError(f"h264 round trip: {len(frames)} frames in, {len(out)} out")
    return out


# the drawn figure as occluders: (point a, point b, radius m at 1.75 m tall) over data.render's body points,
# and its torso quad; these mirror data.render's figure (heads and hands are dots: a == b)
_CAPS = ((NECK, MID, 0.14), (MID, PELVIS, 0.13), (L_SHOULDER, R_SHOULDER, 0.07), (L_HIP, R_HIP, 0.085),
         (L_HIP, L_KNEE, 0.075), (R_HIP, R_KNEE, 0.075), (L_KNEE, L_ANKLE, 0.055), (R_KNEE, R_ANKLE, 0.055),
         (L_HEEL, L_TOE, 0.045), (R_HEEL, R_TOE, 0.045), (L_SHOULDER, L_ELBOW, 0.05), (R_SHOULDER, R_ELBOW, 0.05),
         (L_ELBOW, L_WRIST, 0.037), (R_ELBOW, R_WRIST, 0.037), (L_HAND, L_HAND, 0.045), (R_HAND, R_HAND, 0.045),
         (HEAD, HEAD, 0.1), (HAIR, HAIR, 0.088))
_CA = np.array([c[0] for c in _CAPS])
_CB = np.array([c[1] for c in _CAPS])
_CR = np.array([c[2] for c in _CAPS])
_TORSO = (L_SHOULDER, R_SHOULDER, R_HIP, L_HIP)
# per joint: the body points whose parts belong to the joint itself (never hide it), and its own radius
_OWN = ({HEAD, HAIR},) * 5 + ({L_SHOULDER, NECK, "torso"}, {R_SHOULDER, NECK, "torso"}, {L_ELBOW}, {R_ELBOW},
                             {L_WRIST, L_HAND}, {R_WRIST, R_HAND}, {L_HIP, PELVIS, "torso"},
                             {R_HIP, PELVIS, "torso"}, {L_KNEE}, {R_KNEE}, {L_ANKLE, L_HEEL, L_TOE},
                             {R_ANKLE, R_HEEL, R_TOE})
_OWN_R = np.array([0.0] * 5 + [0.07, 0.07, 0.05, 0.05, 0.045, 0.045, 0.085, 0.085, 0.075, 0.075, 0.055, 0.055])
_SELF_MASK = np.array([[not ({int(a), int(b)} & own) for a, b in zip(_CA, _CB)] for own in _OWN])  # (17, parts)
_SELF_TORSO = np.array(["torso" not in own for own in _OWN])
STATIC_TOL_M = 0.10  # a joint up to this far behind the shelves' surface still counts as seen (a hand in a bin)
OTHER_TOL_M = 0.10


def _in_quad(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Points p (N, 2) inside the quad q (4, 2) (either winding; a bow-tie counts as its two halves)."""
    s = []
    for i in range(4):
        a, b = q[i], q[(i + 1) % 4]
        s.append((b[0] - a[0]) * (p[:, 1] - a[1]) - (b[1] - a[1]) * (p[:, 0] - a[0]))
    s = np.stack(s, 1)
    return (s >= 0).all(1) | (s <= 0).all(1)


def _caps_hit(p: np.ndarray, a: np.ndarray, b: np.ndarray, ra: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For points p (N, 2) and segments a, b (M, 2) with pixel radius ra (M,): inside (N, M), fraction along."""
    ab = b - a
    L2 = (ab ** 2).sum(1)
    w = np.where(L2 > 1e-9, ((p[:, None] - a[None]) * ab[None]).sum(-1) / np.maximum(L2, 1e-9), 0.0)
    w = np.clip(w, 0, 1)
    d2 = ((p[:, None] - (a[None] + w[..., None] * ab[None])) ** 2).sum(-1)
    return d2 <= ra[None] ** 2, w


def visibility(cam: Camera, pts: np.ndarray, heights: np.ndarray, k: int, static_depth: np.ndarray) -> np.ndarray:
    """(17,) person k's joints in the image and not hidden by the shelves, by others or by their own body.

    pts: (P, N_POINTS, 3) body points of everyone present (data.render.body_points); static_depth: the
    camera's depth of the store without people (mm, 0 unknown). Figures are judged as data.render draws
    them (capsules, dots, a torso quad), but a person's own parts hide a joint by their true depth along
    the part rather than the renderer's one depth per part (which would have thighs hide knees).
    """
    H, W = static_depth.shape
    P = len(pts)
    uvs = cam.project(pts)  # (P, N, 2)
    zs = cam.to_camera(pts)[..., 2]
    f = float((cam.K[0, 0] + cam.K[1, 1]) / 2)
    uv, z = uvs[k, :NUM_JOINTS], zs[k, :NUM_JOINTS]
    vis = cam.in_image(uv) & (z > 0.05)
    if not vis.any():
        return vis
    q = np.where(np.isfinite(uv), uv, -1e6)
    # the shelves (and anything static)
    for j in np.flatnonzero(vis):
        u, v = int(round(uv[j, 0])), int(round(uv[j, 1]))
        win = static_depth[max(v - 1, 0):min(v + 2, H), max(u - 1, 0):min(u + 2, W)].astype(np.int64)
        if win.size:
            win = np.where(win == 0, 1 << 30, win)
            vis[j] &= bool(win.max() >= (z[j] - STATIC_TOL_M) * 1000.0)
    s = heights / 1.75
    # other people, drawn one depth per part (the renderer's painter order)
    for o in range(P):
        if o == k or not np.isfinite(uvs[o]).all() or (zs[o] <= 0.05).any():
            continue
        za, zb = zs[o, _CA], zs[o, _CB]
        zm = (za + zb) / 2
        r = _CR * s[o]
        inside, _ = _caps_hit(q, uvs[o, _CA], uvs[o, _CB], f * r / zm)
        front = (zm - r)[None] < (z[:, None] - OTHER_TOL_M)
        hid = (inside & front).any(1)
        tq = uvs[o, list(_TORSO)]
        hid |= _in_quad(q, tq) & (zs[o, list(_TORSO)].mean() < z - OTHER_TOL_M)
        vis &= ~hid
    # their own body, by true depth along each part
    if np.isfinite(uvs[k]).all():
        za, zb = zs[k, _CA], zs[k, _CB]
        r = _CR * s[k]
        inside, w = _caps_hit(q, uvs[k, _CA], uvs[k, _CB], f * r / ((za + zb) / 2))
        zsurf = za[None] + w * (zb - za)[None] - r[None]
        front = zsurf < (z - _OWN_R * s[k] - 0.02)[:, None]
        hid = (inside & front & _SELF_MASK).any(1)
        tq = uvs[k, list(_TORSO)]
        hid |= _SELF_TORSO & _in_quad(q, tq) & (zs[k, list(_TORSO)].mean() < z - _OWN_R * s[k] - 0.02)
        # face points on the far side of the head
        hid[:5] |= z[:5] > zs[k, HEAD] + 0.03 * s[k]
        vis &= ~hid
    return vis


def _figure_box(cam: Camera, pts: np.ndarray, mask: np.ndarray | None, height_m: float) -> np.ndarray | None:
    """Pixel extent (x0, y0, x1, y1) of the drawn figure (its points grown by a limb's radius)."""
    uv = cam.project(pts)
    z = cam.to_camera(pts)[:, 2]
    ok = np.isfinite(uv).all(1) & (z > 0.05)
    if mask is not None:
        ok &= mask
    if ok.sum() < 3:
        return None
    f = float(cam.K[0, 0])
    r = f * 0.09 * height_m / 1.75 / z[ok]
    lo = (uv[ok] - r[:, None]).min(0)
    hi = (uv[ok] + r[:, None]).max(0)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [cam.width, cam.height])
    if (hi - lo).min() < 2:
        return None
    return np.array([lo[0], lo[1], hi[0], hi[1]])


def _point_mask(vis: np.ndarray) -> np.ndarray:
    """Which body points (joints, then data.render's extra points) belong to the visible joints."""
    m = np.zeros(N_POINTS, bool)
    m[:NUM_JOINTS] = vis
    m[NECK] = vis[[L_SHOULDER, R_SHOULDER]].any()
    m[PELVIS] = vis[[L_HIP, R_HIP]].any()
    m[MID] = m[NECK] or m[PELVIS]
    m[HEAD] = m[HAIR] = vis[:5].any()
    m[L_HAND], m[R_HAND] = vis[L_WRIST], vis[R_WRIST]
    m[L_HEEL] = m[L_TOE] = vis[L_ANKLE]
    m[R_HEEL] = m[R_TOE] = vis[R_ANKLE]
    return m


def _jitter_box(rng: np.random.Generator, box: np.ndarray, W: int, H: int) -> tuple[int, int, int, int]:
    """A detector's box around the figure: loose or tight, a bit shifted, now and then cut on one side."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    s = max(w, h)
    d = rng.normal(0, 0.05, 4) * s  # each side on its own
    grow = rng.uniform(-0.05, 0.15) * np.array([w, h, w, h]) / 2
    x0, y0, x1, y1 = x0 - grow[0] + d[0], y0 - grow[1] + d[1], x1 + grow[2] + d[2], y1 + grow[3] + d[3]
    if rng.random() < 0.12:  # cut: one side pulled in
        k = int(rng.integers(4))
        cut = rng.uniform(0.05, 0.25)
        if k == 0:
            x0 += cut * w
        elif k == 1:
            y0 += cut * h
        elif k == 2:
            x1 -= cut * w
        else:
            y1 -= cut * h
    x0, y0 = int(np.floor(max(x0, 0))), int(np.floor(max(y0, 0)))
    x1, y1 = int(np.ceil(min(x1, W))), int(np.ceil(min(y1, H)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


@dataclass
class PersonView:
    """One person in one frame, with what the crop needs."""
    person: int  # index into World.people
    uv: np.ndarray  # (17, 2) truth joints in image pixels (NaN: behind the camera / far outside)
    inimg: np.ndarray  # (17,) inside the image
    vis: np.ndarray  # (17,) inside the image and not hidden
    figure: np.ndarray  # (4,) float extent of the whole drawn figure (x0, y0, x1, y1)
    box: tuple[int, int, int, int]  # the simulated detector's box
    reach: bool  # a hand of theirs is in a bin about now
    hand_over: bool = False  # they hold a hand out to a partner in a hand-over now


@dataclass
class Frame:
    camera: Camera
    t: float
    rgb: np.ndarray  # after the H.264 round trip when the config asks for it
    depth: np.ndarray
    people: list[PersonView]


def scenario_frames(seed: int, index: int, cfg: GenConfig):
    """Yield the Frames of one scenario, lazily, in a fixed order (deterministic in seed and index)."""
    cv2.setNumThreads(1)
    rng = np.random.default_rng([seed, index, 7])
    store, catalog, cams, world = _world(rng, int(seed * 100003 + index) % (2 ** 31), cfg)
    heights = np.array([p.appearance.height_m for p in world.people])
    reach_iv: dict[int, list[tuple[float, float]]] = {}
    for hb in world.hands_in_bins:
        reach_iv.setdefault(world.person_index(hb.person), []).append((hb.t_in, hb.t_out))
    hand_iv: dict[int, list[tuple[float, float]]] = {}
    for t0, t1, giver, receiver in handover_windows(world):
        for who in (giver, receiver):
            hand_iv.setdefault(world.person_index(who), []).append((t0, t1))
    # clip times for every camera, then the cameras that see the most people at their times (renderers
    # cost a second or more each to set up; frames are cheap)
    plans = []
    for ci in rng.permutation(len(cams)):
        cam = cams[int(ci)]
        times = _frame_times(_clip_starts(rng, world, cfg.clips_per_camera, cfg.handover_clips),
                             world.duration_s)
        J = np.stack([world.joints_at(float(t)) for t in times]) if len(times) else np.zeros((0, 0, 17, 3))
        seen = cam.in_image(cam.project(J)).sum(-1) >= MIN_JOINTS_IN_IMAGE if len(times) else np.zeros(0)
        plans.append((int(np.sum(seen)), cam, times))
    plans.sort(key=lambda x: -x[0])
    for _, cam, times in plans[:cfg.max_cameras]:
        if not len(times):
            continue
        ren = CameraRenderer(store, catalog, cam, seed=int(rng.integers(2 ** 31)))
        static = ren.bg.depth
        gain = 1.0 if rng.random() < 0.7 else float(rng.uniform(0.6, 1.35))
        frames, depths = [], []
        for t in times:
            rgb, dep = ren.render(float(t), world, gain)
            frames.append(rgb)
            depths.append(dep)
        if cfg.h264:
            frames = _h264(frames, times, crf=int(rng.choice([18, 23, 23, 26, 29])))
        for t, rgb, dep in zip(times, frames, depths):
            J = world.joints_at(float(t))
            present = np.flatnonzero(np.isfinite(J).all(axis=(1, 2)))
            views: list[PersonView] = []
            pts = body_points(J[present], heights[present]) if len(present) else None
            for k, p in enumerate(present):
                uv = cam.project(J[p])
                inimg = cam.in_image(uv)
                if inimg.sum() < MIN_JOINTS_IN_IMAGE:
                    continue
                vis = visibility(cam, pts, heights[present], k, static)
                if vis.sum() < MIN_VISIBLE:  # a detector would not find them
                    continue
                full = _figure_box(cam, pts[k], None, heights[p])
                if full is None or full[3] - full[1] < MIN_BOX_PX:
                    continue
                box = full
                if vis.sum() < 0.75 * inimg.sum() and rng.random() < 0.7:
                    # the detector sees only what is not hidden: the visible joints' part of the figure
                    vb = _figure_box(cam, pts[k], _point_mask(vis), heights[p])
                    if vb is not None and vb[3] - vb[1] >= MIN_BOX_PX:
                        box = vb
                b = _jitter_box(rng, box, cam.width, cam.height)
                reach = any(t0 - 0.2 <= t <= t1 + 0.2 for t0, t1 in reach_iv.get(int(p), ()))
                hand_over = any(t0 <= t <= t1 for t0, t1 in hand_iv.get(int(p), ()))
                views.append(PersonView(int(p), uv, inimg, vis, full, b, reach, hand_over))
            yield Frame(cam, float(t), rgb, dep, views)


FIELDS = ("img", "kp", "vis", "inimg", "scale", "reach", "hand_over", "size_px", "box")


def frame_crops(fr: Frame, index: int = 0) -> dict[str, np.ndarray]:
    """The training arrays of one Frame's people (see scenario_crops)."""
    rows: dict[str, list] = {k: [] for k in FIELDS}
    for pv in fr.people:
        img, M, a = crop(fr.rgb, pv.box)
        kp = np.where(np.isfinite(pv.uv), pv.uv, np.nan) @ M[:, :2].T + M[:, 2]
        rows["img"].append(img)
        rows["kp"].append(kp.astype(np.float32))
        rows["vis"].append(pv.vis)
        rows["inimg"].append(pv.inimg)
        rows["scale"].append(a)
        rows["reach"].append(pv.reach)
        rows["hand_over"].append(pv.hand_over)
        rows["size_px"].append(pv.figure[3] - pv.figure[1])
        rows["box"].append(pv.box)
    return _arrays(rows, index)


def _arrays(rows: dict[str, list], index: int) -> dict[str, np.ndarray]:
    n = len(rows["img"])
    return {"img": np.stack(rows["img"]) if n else np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.uint8),
            "kp": np.asarray(rows["kp"], np.float32).reshape(n, NUM_JOINTS, 2),
            "vis": np.asarray(rows["vis"], bool).reshape(n, NUM_JOINTS),
            "inimg": np.asarray(rows["inimg"], bool).reshape(n, NUM_JOINTS),
            "scale": np.asarray(rows["scale"], np.float32),
            "reach": np.asarray(rows["reach"], bool),
            "hand_over": np.asarray(rows["hand_over"], bool),
            "size_px": np.asarray(rows["size_px"], np.float32),
            "box": np.asarray(rows["box"], np.int32).reshape(n, 4),
            "scenario": np.full(n, index, np.int32)}


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        return _arrays({k: [] for k in FIELDS}, 0)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def scenario_crops(seed: int, index: int, cfg: GenConfig) -> dict[str, np.ndarray]:
    """All crops of one scenario (deterministic in seed and index).

    img (n, S, S, 3) uint8; kp (n, 17, 2) truth joints in crop pixels (NaN: not projectable); vis (n, 17)
    in the image and not hidden; inimg (n, 17); scale (n,) image pixels per crop pixel; reach (n,) a hand
    of theirs in a bin; hand_over (n,) holding a hand out in a hand-over; size_px (n,) figure height in the
    image; box (n, 4) the detector box; scenario.
    """
    return concat([frame_crops(fr, index) for fr in scenario_frames(seed, index, cfg)])


def _job(args) -> dict[str, np.ndarray]:
    return scenario_crops(*args)


# -- the whole set -----------------------------------------------------------------------------

def generate(seed: int, cfg: GenConfig = GenConfig(), workers: int = 2,
             log: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """Crops of cfg.scenarios scenarios, concatenated in scenario order (same seed -> same arrays)."""
    t0 = time.perf_counter()
    jobs = [(seed, i, cfg) for i in range(cfg.scenarios)]
    parts: list[dict[str, np.ndarray]] = []
    if workers <= 1 or len(jobs) <= 1:
        for j in jobs:
            parts.append(_job(j))
            if log:
                log(f"dataset seed {seed}: scenario {len(parts)}/{len(jobs)}, "
                    f"{sum(len(p['img']) for p in parts)} crops, {time.perf_counter() - t0:.0f} s")
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as ex:
            for part in ex.map(_job, jobs):
                parts.append(part)
                if log:
                    log(f"dataset seed {seed}: scenario {len(parts)}/{len(jobs)}, "
                        f"{sum(len(p['img']) for p in parts)} crops, {time.perf_counter() - t0:.0f} s")
    return concat(parts)


def cache_dir() -> Path:
    return Path(os.environ.get("WALKOUT_CACHE", Path(tempfile.gettempdir()) / "walkout-cache")) / "pose2d"


def load_or_generate(seed: int, cfg: GenConfig = GenConfig(), workers: int = 2,
                     log: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """generate(), cached as an .npz keyed by the seed, the config and the generator's VERSION."""
    path = cache_dir() / f"pose2d-seed{seed}-{cfg.key(seed)}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    d = generate(seed, cfg, workers, log)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **d)
    tmp.rename(path)
    return d
