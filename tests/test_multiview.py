"""Multi-view reconstruction (engine.multiview) on synthetic 2D poses made from the simulator's truth.

The simulator's people (data.choreography, no video rendered) are projected
into the store's automatic cameras with a noise model of a real detector:
each camera has its own frame time (not frame-locked), ~2 px pixel noise,
joints hidden behind shelves, missed joints (score 0), a false detection,
two people's arms mixed up, and a camera blacked out.

Helpers here (`sim_world`, `synth_frame`) are shared with test_tracking.py.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from data.camera_placement import auto_cameras, segments_hit_boxes
from data.cameras import Camera
from data.choreography import choreograph
from data.errors import ScenarioError
from data.presets import load_preset
from data.random_scenario import Knobs, build
from data.scenario import AutoCameras
from data.world import L_ELBOW, L_WRIST, R_WRIST, World
from engine.multiview import reconstruct
from engine.types import Pose2D, Pose3D

WRISTS = (L_WRIST, R_WRIST)


@dataclass
class Sim:
    store: object
    cams: list[Camera]
    world: World

    @property
    def cam_by_id(self) -> dict[str, Camera]:
        return {c.id: c for c in self.cams}


_CACHE: dict = {}


def sim_world(seed: int = 5, people: int = 8, duration: float = 30.0, store: str = "corner-store",
              parties: int = 1, associates: int = 0) -> Sim:
    """A choreographed world (truth only, no video) with the store's automatic cameras; cached."""
    key = (seed, people, duration, store, parties, associates)
    if key not in _CACHE:
        st, cat = load_preset(store)
        cams = auto_cameras(st, AutoCameras())
        k = Knobs(seed=seed, store=store, people=people, duration_s=duration, parties=parties, associates=associates)
        last = None
        for attempt in range(8):
            sc = build(k, st, cat, [c.id for c in cams], attempt)
            try:
                world = choreograph(sc, st, cat, {c.id for c in cams})
                break
            except ScenarioError as e:
                last = e
        else:
            raise last
        _CACHE[key] = Sim(st, cams, world)
    return _CACHE[key]


def synth_frame(sim: Sim, t: float, rng: np.random.Generator, *, noise_px: float = 2.0, miss: float = 0.05,
                offsets: dict[str, float] | None = None, blackout: set[str] = frozenset(),
                false_people: int = 0, mix_arms: bool = False) -> list[Pose2D]:
    """What a decent 2D pose detector would report in every camera at about time t.

    `false_people` false detections (a person's 2D pose shifted by 60-140 px) go into random cameras;
    `mix_arms`: in one random camera, the two people nearest each other in the image get one left arm.
    """
    lo = np.array([s.min for s in sim.store.shelves], float)
    hi = np.array([s.max for s in sim.store.shelves], float)
    out: list[Pose2D] = []
    false_cams = [sim.cams[int(rng.integers(len(sim.cams)))].id for _ in range(false_people)]
    mix_cam = sim.cams[int(rng.integers(len(sim.cams)))].id if mix_arms else None
    for cam in sim.cams:
        if cam.id in blackout:
            continue
        tc = t + (offsets or {}).get(cam.id, 0.0)
        J = sim.world.joints_at(tc)  # (P, 17, 3)
        here = np.isfinite(J).all((1, 2))
        J = J[here]
        if not len(J):
            continue
        uv = cam.project(J)
        vis = cam.in_image(uv, margin=2.0)
        hidden = segments_hit_boxes(np.broadcast_to(cam.center, J.shape), J, lo, hi)
        vis &= ~hidden
        dets, who = [], []
        for p in range(len(J)):
            if vis[p].sum() < 6:
                continue
            kp = np.zeros((17, 3))
            kp[:, :2] = uv[p] + rng.normal(0, noise_px, (17, 2))
            kp[:, 2] = rng.uniform(0.5, 1.0, 17)
            gone = ~vis[p] | (rng.random(17) < miss)
            kp[gone] = 0.0
            dets.append(kp)
            who.append(int(np.nonzero(here)[0][p]))
        if cam.id == mix_cam and len(dets) >= 2:
            # the two people nearest each other in this view: the detector gave a's left arm to b
            cen = np.array([d[d[:, 2] > 0, :2].mean(0) for d in dets])
            D = np.linalg.norm(cen[:, None] - cen[None], axis=-1) + np.eye(len(dets)) * 1e9
            ia, ib = np.unravel_index(np.argmin(D), D.shape)
            a, b = dets[ia], dets[ib]
            for j in (L_ELBOW, L_WRIST):
                if a[j, 2] > 0:
                    b[j] = a[j]
        for _ in range(int(false_cams.count(cam.id)) if dets else 0):
            f = dets[int(rng.integers(len(dets)))].copy()
            f[:, :2] += rng.uniform(60, 140, 2) * rng.choice([-1, 1], 2)
            f[:, 2] *= 0.7
            dets.append(f)
            who.append(-1)
        # `detection` carries the truth person's index (-1: a false detection), for diagnostics only
        out += [Pose2D(cam.id, tc, d, detection=w) for d, w in zip(dets, who)]
    return out


def truth_at(sim: Sim, t: float) -> np.ndarray:
    J = sim.world.joints_at(t)
    return J[np.isfinite(J).all((1, 2))]


def match_errors(est: list[Pose3D], truth: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Per-joint errors of estimates matched to truth people by floor position (0.5 m gate).

    Returns (errors (M, 17), matched, false)."""
    from scipy.optimize import linear_sum_assignment
    if not est or not len(truth):
        return np.zeros((0, 17)), 0, len(est)
    ef = np.array([p.floor for p in est])
    tf = np.nanmean(truth[:, [15, 16], :2], axis=1)
    D = np.linalg.norm(ef[:, None] - tf[None], axis=-1)
    r, c = linear_sum_assignment(np.where(np.isfinite(D), D, 1e6))
    errs = []
    for a, b in zip(r, c):
        if D[a, b] < 0.5:
            errs.append(np.linalg.norm(est[a].joints - truth[b], axis=1))
    n = len(errs)
    return (np.array(errs) if errs else np.zeros((0, 17))), n, len(est) - n


def busy_times(sim: Sim, n: int, min_people: int = 3) -> np.ndarray:
    w = sim.world
    count = np.isfinite(w.joints[:, :, 0, 0]).sum(1)
    idx = np.nonzero(count >= min_people)[0]
    return w.times[idx[np.linspace(0, len(idx) - 1, n).astype(int)]]


def run_frames(sim, times, rng, **kw):
    errs, matched, false, truth_n = [], 0, 0, 0
    prev = None
    for t in times:
        poses = synth_frame(sim, t, rng, **kw)
        est = reconstruct(poses, sim.cam_by_id, t, prev)
        e, m, f = match_errors(est, truth_at(sim, t))
        errs.append(e)
        matched += m
        false += f
        truth_n += len(truth_at(sim, t))
    return np.concatenate(errs), matched, false, truth_n


# -- tests ------------------------------------------------------------------------------------

def test_clean_views_recover_the_skeletons_exactly():
    sim = sim_world()
    rng = np.random.default_rng(0)
    times = busy_times(sim, 10)
    E, matched, false, n = run_frames(sim, times, rng, noise_px=0.0, miss=0.0)
    assert false == 0
    assert matched >= 0.95 * n
    assert np.nanmedian(E) < 0.002


def test_noisy_detector_mpjpe_under_4cm():
    sim = sim_world()
    rng = np.random.default_rng(1)
    cams = [c.id for c in sim.cams]
    offsets = {c: float(rng.uniform(-1 / 30, 1 / 30)) for c in cams}
    times = busy_times(sim, 30)
    # consecutive pairs of frames so that `prev` gives velocity (time compensation)
    errs, matched, false, n = [], 0, 0, 0
    for t in times:
        prev = None
        for tt in (t - 1 / 15, t):
            poses = synth_frame(sim, tt, rng, noise_px=2.0, miss=0.05, offsets=offsets, false_people=1,
                                mix_arms=True, blackout={cams[2]})
            est = reconstruct(poses, sim.cam_by_id, tt, prev)
            prev = est
        e, m, f = match_errors(est, truth_at(sim, t))
        errs.append(e)
        matched += m
        false += f
        n += len(truth_at(sim, t))
    E = np.concatenate(errs)
    mpjpe = np.nanmean(E)
    wrist = np.nanmean(E[:, list(WRISTS)])
    found = np.isfinite(E).mean()
    print(f"\nMPJPE {mpjpe * 100:.2f} cm, wrist {wrist * 100:.2f} cm, joints found {found:.1%}, "
          f"people {matched}/{n}, false {false}")
    assert false == 0
    assert matched >= 0.9 * n
    assert mpjpe < 0.04
    assert wrist < 0.05
    assert found > 0.8


def test_false_detection_and_one_view_people_are_not_invented():
    sim = sim_world()
    rng = np.random.default_rng(2)
    t = float(busy_times(sim, 1)[0])
    poses = synth_frame(sim, t, rng, false_people=2)
    cams = sim.cam_by_id
    # a detection in a single camera, nowhere else: dropped without prev
    one = [p for p in poses if p.camera == sim.cams[0].id][:1]
    assert reconstruct(one, cams, t) == []
    est = reconstruct(poses, cams, t)
    _, m, f = match_errors(est, truth_at(sim, t))
    assert f == 0
    # views are (camera, index into the poses given), one per camera; no pose is used twice
    for p in est:
        for cid, k in p.views:
            assert poses[k].camera == cid
        assert len({c for c, _ in p.views}) == len(p.views)
    used = [k for p in est for _, k in p.views]
    assert len(used) == len(set(used))


def test_single_view_kept_with_low_confidence_when_prev_supports_it():
    sim = sim_world()
    rng = np.random.default_rng(3)
    t = float(busy_times(sim, 1)[0])
    cams = sim.cam_by_id
    prev = reconstruct(synth_frame(sim, t - 1 / 15, rng), cams, t - 1 / 15)
    truth = truth_at(sim, t)
    # keep, for the first person, one camera's view only
    poses = synth_frame(sim, t, rng)
    est_all = reconstruct(poses, cams, t)
    target = est_all[0]
    drop = {k for _, k in target.views[1:]}
    kept = [p for k, p in enumerate(poses) if k not in drop]
    est = reconstruct(kept, cams, t, prev)
    single = [p for p in est if len(p.views) == 1]
    assert len(single) == 1
    assert np.nanmax(single[0].confidence) <= 0.31
    d = np.linalg.norm(single[0].floor - np.nanmean(truth[:, [15, 16], :2], 1), axis=1).min()
    assert d < 0.3
    assert len(reconstruct(kept, cams, t)) == len(est) - 1  # without prev it is dropped


def test_people_appearing_mid_floor_and_empty_input():
    sim = sim_world()
    assert reconstruct([], sim.cam_by_id, 0.0) == []
    # a hand-made person in the middle of the floor, no history
    w = sim.world
    i = int(np.nonzero(np.isfinite(w.joints[:, 0, 0, 0]))[0][40])
    J = w.joints[i, 0].astype(float)
    J[:, :2] += np.array([5.0, 3.0]) - J[[15, 16], :2].mean(0)
    poses = []
    for cam in sim.cams:
        uv = cam.project(J)
        if cam.in_image(uv).sum() >= 10:
            kp = np.concatenate([uv, np.ones((17, 1))], 1)
            kp[~cam.in_image(uv)] = 0
            poses.append(Pose2D(cam.id, 1.0, kp))
    assert len(poses) >= 2
    est = reconstruct(poses, sim.cam_by_id, 1.0)
    assert len(est) == 1
    assert np.nanmax(np.linalg.norm(est[0].joints - J, axis=1)) < 0.01
    assert np.all(est[0].confidence[np.isfinite(est[0].joints).all(1)] > 0.5)


def test_speed_six_cameras_eight_people():
    sim = sim_world()
    rng = np.random.default_rng(4)
    times = busy_times(sim, 20, min_people=6)
    frames = [synth_frame(sim, t, rng) for t in times]
    prev = None
    t0 = time.process_time()  # CPU time: the test machine is shared
    for t, poses in zip(times, frames):
        prev = reconstruct(poses, sim.cam_by_id, t, prev)
    ms = (time.process_time() - t0) / len(times) * 1e3
    n = np.mean([len(truth_at(sim, t)) for t in times])
    print(f"\nreconstruct: {ms:.1f} ms per step ({len(sim.cams)} cameras, {n:.1f} people on average)")
    assert ms < 60


def test_a_view_where_someone_nearer_covers_the_person_gives_no_look():
    """Two people one behind the other as seen from camera cam-a, side by side from cam-b: cam-a's view of the
    one behind is left out of its look (its pixels may be the other's clothes); every other view is kept."""
    from data.cameras import Camera, look_at
    from data.skeleton import Body, PoseState, skeleton
    from engine.process import unoccluded_views
    from engine.types import Pose2D, Pose3D

    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    cams = {}
    for cid, eye in (("cam-a", (0.0, 3.0, 2.5)), ("cam-b", (3.0, 0.0, 2.5))):
        R, t = look_at(np.array(eye), np.array([3.0, 3.0, 1.0]), np.array([0.0, 0.0, 1.0]))
        cams[cid] = Camera(cid, 640, 480, 15.0, K, np.zeros(5), R, t)
    near = skeleton(Body(1.75), PoseState(pos=np.array([2.4, 3.0]), heading=0.0))
    far = skeleton(Body(1.75), PoseState(pos=np.array([3.4, 3.0]), heading=0.0))
    poses, people = [], []
    for J in (near, far):
        views = []
        for cid, cam in cams.items():
            uv = cam.project(J)
            box = tuple(int(v) for v in (*uv.min(0), *uv.max(0)))
            poses.append(Pose2D(cid, 0.0, np.c_[uv, np.ones(17)], box, len(poses)))
            views.append((cid, len(poses) - 1))
        people.append(Pose3D(0.0, J, np.ones(17), np.zeros(17), views))
    kept = unoccluded_views(people, poses, cams)
    assert [c for c, _ in kept[0]] == ["cam-a", "cam-b"]
    assert [c for c, _ in kept[1]] == ["cam-b"]


def _best_seen(sim: Sim, t: float, rng: np.random.Generator) -> tuple[list[Pose2D], Pose3D, np.ndarray]:
    """A frame, its most-viewed person, and that person's truth skeleton."""
    poses = synth_frame(sim, t, rng, noise_px=1.0, miss=0.0)
    est = reconstruct(poses, sim.cam_by_id, t)
    target = max(est, key=lambda p: len(p.views))
    truth = truth_at(sim, t)
    k = int(np.argmin(np.linalg.norm(np.nanmean(truth[:, [15, 16], :2], 1) - target.floor, axis=1)))
    return poses, target, truth[k]


def test_a_wrist_no_shoulder_can_reach_loses_to_weaker_views_that_agree():
    """Two views score a wrong wrist highly, and their rays meet 1.3 m from the shoulder; the views that see
    the real wrist score it low. The reachable hypothesis wins."""
    from data.world import R_SHOULDER
    sim = sim_world()
    rng = np.random.default_rng(7)
    t = float(busy_times(sim, 3)[1])
    poses, target, truth = _best_seen(sim, t, rng)
    assert len(target.views) >= 4
    fake = truth[R_SHOULDER] + np.array([1.0, 0.8, 0.1])
    cams = sim.cam_by_id
    for n, (cid, k) in enumerate(target.views):
        kp = poses[k].keypoints.copy()
        if n < 2:
            kp[R_WRIST] = [*cams[cid].project(fake[None])[0], 0.95]
        else:
            kp[R_WRIST, 2] = 0.3
        poses[k] = Pose2D(cid, poses[k].t, kp, poses[k].box, poses[k].detection)
    est = reconstruct(poses, cams, t)
    p = min(est, key=lambda p: np.linalg.norm(p.floor - target.floor))
    assert np.linalg.norm(p.joints[R_WRIST] - truth[R_WRIST]) < 0.1

