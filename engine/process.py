"""`walkout process`: a recording in, an engine run out (perception: stages 1-4 of design.md).

Two passes. The camera pass runs in worker processes, one camera at a time. It decodes the
camera's frames, finds the people, and estimates their 2D poses and clothing colours at the
engine's rate (`pose_hz`, `pose_rate`): for each engine tick, the frame nearest the tick. The world pass runs
in the main process. It collects, for each tick, every camera's 2D poses at their own frame
times, triangulates the skeletons, and feeds the linker, which ties tracks to the gate scans.
The run is written to a temporary directory and renamed into place, so a failure leaves no
half-written run behind.
"""
from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import multiprocessing as mp
import numpy as np

from data.atomic import atomic_dir, refuse_non_empty
from data.errors import InputError
from data.recording import open_recording
from engine.appearance import appearance
from engine.run import CameraFrames, TrackInfo, write_manifest, write_run
from engine.types import Pose2D

Progress = Callable[[str, float], None]
POSE_BATCH_FRAMES = 8
# Skeletons per second. At 5 Hz people walking past each other move a quarter metre between skeletons, as far as
# they stand apart in a crowd, and tracks swapped bodies; 7.5 Hz (every second frame of a 15 fps camera) cut the
# cart's wrong-shopper events from 31 to 18 for 1.5 times the camera stage (docs/benchmarks.md, "Skeletons at
# 7.5 Hz"). The camera stage's time grows with cameras times rate: on this 2-core machine 6 cameras at 7.5 Hz
# process at 0.76x real time, 16 at 7.5 Hz at 1.31x and 16 at 5 Hz at 0.75x, so larger stores get the lower rate.
DEFAULT_POSE_HZ = 7.5
LARGE_STORE_POSE_HZ = 5.0
MAX_CAMERAS_AT_DEFAULT = 8


def pose_rate(video_cameras: int) -> float:
    """The skeleton rate `process` uses when none is asked for: the highest the time budget allows."""
    return DEFAULT_POSE_HZ if video_cameras <= MAX_CAMERAS_AT_DEFAULT else LARGE_STORE_POSE_HZ


@dataclass
class ProcessOptions:
    pose_hz: float | None = None  # None: pose_rate(the cameras with video), or an earlier run's (cameras_from)
    workers: int = 2
    overwrite: bool = False
    cart: bool = True  # also read the load cells and write receipts.json and evidence.json
    cameras_from: Path | None = None  # reuse the camera stage of an earlier run of this recording
    linker: dict[str, float] = field(default_factory=dict)  # LinkerConfig numbers changed (benchmarks' --linker)


@dataclass
class CameraResult:
    frames: CameraFrames  # with its clothing looks (`appearance`, NaN rows when unknown)
    gaps: list[dict]
    seconds: float


@dataclass
class RunSummary:
    out: Path
    duration_s: float
    wall_s: float
    tracks: int
    stage_s: dict[str, float] = field(default_factory=dict)
    visits: str = ""

    def __str__(self) -> str:
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in self.stage_s.items())
        return (f"wrote {self.out}: {self.tracks} tracks{', ' + self.visits if self.visits else ''} over {self.duration_s:g} s in {self.wall_s:.1f} s "
                f"({self.wall_s / max(self.duration_s, 1e-9):.2f}x real time; {stages})")


def ticks_of(duration: float, hz: float) -> np.ndarray:
    return np.arange(0.0, duration + 1e-9, 1.0 / hz)


def camera_gaps(cam_id: str, times: np.ndarray, fps: float, black: np.ndarray, duration: float) -> list[dict]:
    """Intervals a camera shows nothing useful: late start, missing frames, black frames."""
    gaps = []
    if not len(times):
        return [{"camera": cam_id, "from": 0.0, "to": duration, "kind": "no-frames"}]
    if times[0] > 1.5 / fps:
        gaps.append({"camera": cam_id, "from": 0.0, "to": float(times[0]), "kind": "late-start"})
    d = np.diff(times)
    for i in np.flatnonzero(d > 2.5 / fps):
        gaps.append({"camera": cam_id, "from": float(times[i]), "to": float(times[i + 1]), "kind": "missing-frames"})
    if black.any():
        edges = np.flatnonzero(np.diff(np.r_[0, black.astype(int), 0]))
        for a, b in zip(edges[::2], edges[1::2]):
            gaps.append({"camera": cam_id, "from": float(times[a]), "to": float(times[b - 1]), "kind": "black"})
    return gaps


def camera_pass(rec_root: Path, cam_id: str, pose_hz: float) -> CameraResult:
    """Detections, 2D poses and appearance of one camera at the engine's ticks."""
    from engine.detection import PersonDetector
    from engine.frames import CameraStream, Frame
    from engine.pose2d.infer import PoseEstimator

    t0 = time.perf_counter()
    rec = open_recording(rec_root)
    stream = CameraStream(rec, cam_id)
    det = PersonDetector(rec, cam_id)
    if not stream.has_depth:
        det.prime(stream)
    est = PoseEstimator(threads=1)
    times = stream.times
    ticks = ticks_of(rec.duration_s, pose_hz)
    want: dict[int, float] = {}
    if len(times):
        idx = np.clip(np.searchsorted(times, ticks), 1, len(times) - 1)
        near = np.where(np.abs(times[idx - 1] - ticks) <= np.abs(times[idx] - ticks), idx - 1, idx)
        for tk, i in zip(ticks, near):
            if abs(times[i] - tk) <= 0.5 / pose_hz:
                want[int(i)] = float(times[i])
    out_t, det_rows, kp_rows, apps, black = [], [], [], [], np.zeros(len(times), bool)
    pending: list[tuple[int, np.ndarray, list]] = []

    def flush() -> None:
        preds = est.predict_batch([(rgb, [d.box for d in dets]) for _, rgb, dets in pending])
        for (fi, rgb, dets), kps in zip(pending, preds):
            for di, kp in enumerate(kps):
                kp_rows.append((fi, di, kp))
                a = appearance(rgb, kp)
                apps.append(a if a is not None else np.full(12, np.nan, np.float32))
        pending.clear()

    for fr in stream.iter_frames(rgb=True, depth=False):
        i = fr.index
        if i % 3 == 0 or i in want:  # blackouts are found on a sample of frames, and on every frame used
            black[i] = float(fr.rgb[::8, ::8].mean()) < 6.0
        if i not in want:
            continue
        if stream.has_depth:
            fr = Frame(fr.t, fr.rgb, stream.frame(i, rgb=False, depth=True).depth, i)
        fi = len(out_t)
        out_t.append(fr.t)
        dets = [] if black[i] else det(fr)
        for d in dets:
            det_rows.append((fi, d))
        if dets:
            pending.append((fi, fr.rgb, dets))
        if len(pending) >= POSE_BATCH_FRAMES:
            flush()
    if pending:
        flush()
    stream.close()
    # kp rows reference detections by (frame, index within that frame): make it a global detection index
    first_det = {}
    for k, (fi, _) in enumerate(det_rows):
        first_det.setdefault(fi, k)
    cf = CameraFrames(
        camera=cam_id, times=np.array(out_t, float),
        det_frame=np.array([fi for fi, _ in det_rows], int),
        det_box=np.array([d.box for _, d in det_rows], int).reshape(-1, 4),
        det_score=np.array([d.score for _, d in det_rows], float),
        det_foot=np.array([d.foot if d.foot is not None else np.full(3, np.nan) for _, d in det_rows],
                          float).reshape(-1, 3),
        kp_frame=np.array([fi for fi, _, _ in kp_rows], int),
        kp=np.array([kp for _, _, kp in kp_rows], np.float32).reshape(-1, 17, 3),
        kp_det=np.array([first_det[fi] + di for fi, di, _ in kp_rows], int),
        appearance=np.array(apps, np.float32).reshape(-1, 12))
    cam = rec.camera(cam_id)
    gaps = camera_gaps(cam_id, times, cam.fps, black, rec.duration_s)
    return CameraResult(cf, gaps, time.perf_counter() - t0)


def keypoints_pass(rec_root: Path, cam_id: str, pose_hz: float) -> CameraResult:
    """A camera that delivers its own 2D poses (recording.md `keypoints`): read them at the engine's ticks."""
    import json

    from data.errors import RecordingError
    from data.recording import open_recording as _open

    t0 = time.perf_counter()
    rec = _open(rec_root)
    cam = rec.camera(cam_id)
    path = rec.root / "cameras" / cam.keypoints
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise RecordingError(f"{path}: missing (camera {cam_id} keypoints)") from None
    times, people = [], []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            t = float(row["t"])
            kp = np.asarray(row["people"], float).reshape(-1, 17, 3)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise RecordingError(f"{path}: line {n}: expected {{\"t\": s, \"people\": [[[u, v, score] x 17], ...]}} "
                                 f"({e})") from None
        if times and t <= times[-1]:
            raise RecordingError(f"{path}: line {n}: time {t} does not follow {times[-1]}")
        times.append(t)
        people.append(kp)
    times_a = np.array(times, float)
    ticks = ticks_of(rec.duration_s, pose_hz)
    chosen = []
    if len(times_a):
        for tk in ticks:
            i = int(np.argmin(np.abs(times_a - tk)))
            if abs(times_a[i] - tk) <= 0.5 / pose_hz and (not chosen or chosen[-1] != i):
                chosen.append(i)
    out_t, boxes, scores, kp_frame, kps = [], [], [], [], []
    for i in chosen:
        fi = len(out_t)
        out_t.append(times_a[i])
        for kp in people[i]:
            seen = kp[:, 2] > 0
            if seen.sum() < 2:
                continue
            lo, hi = kp[seen, :2].min(0), kp[seen, :2].max(0)
            boxes.append((int(lo[0]), int(lo[1]), int(np.ceil(hi[0])) + 1, int(np.ceil(hi[1])) + 1))
            scores.append(float(kp[seen, 2].mean()))
            kp_frame.append(fi)
            kps.append(kp)
    n = len(kps)
    cf = CameraFrames(cam_id, np.array(out_t, float), np.array(kp_frame, int), np.array(boxes, int).reshape(-1, 4),
                      np.array(scores, float), np.full((n, 3), np.nan), np.array(kp_frame, int),
                      np.array(kps, np.float32).reshape(-1, 17, 3), np.arange(n), np.full((n, 12), np.nan, np.float32))
    gaps = camera_gaps(cam_id, times_a, cam.fps, np.zeros(len(times_a), bool), rec.duration_s)
    return CameraResult(cf, gaps, time.perf_counter() - t0)


def _unit(v: np.ndarray) -> np.ndarray | None:
    if v is None or not np.isfinite(v).all():
        return None
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else None


def cameras_from_run(rec, run_root: Path, pose_hz: float | None) -> tuple[dict[str, CameraResult], float]:
    """The camera stage of an earlier run of the same recording (detections, 2D poses, looks), so tracking and
    the cart can be rerun after a change without decoding and inferring every frame again; with its rate, which
    pose_hz (None: whatever that run's) must match."""
    from engine.run import RunError, load_run

    run = load_run(run_root)
    m = run.manifest
    if m.get("recording") != rec.id:
        raise InputError(f"--cameras-from {run_root}: that run is of recording {m.get('recording')!r}, "
                         f"not {rec.id!r}")
    try:
        run_hz = float(m["pose_hz"])
    except (KeyError, TypeError, ValueError):
        run_hz = float("nan")
    if not 0 < run_hz <= 60:
        raise InputError(f"--cameras-from {run_root}/run.json: pose_hz must be a rate in (0, 60], "
                         f"got {m.get('pose_hz')!r}")
    if pose_hz is None:
        pose_hz = run_hz
    if abs(run_hz - pose_hz) > 1e-9:
        raise InputError(f"--cameras-from {run_root}: that run has poses at {m.get('pose_hz')} Hz, not {pose_hz:g}; "
                         f"pass --pose-hz {m.get('pose_hz')}")
    out = {}
    for c in rec.cameras:
        try:
            cf = run.camera_frames(c.id)
        except (RunError, OSError) as e:
            raise InputError(f"--cameras-from {run_root}: camera {c.id}: {e}") from None
        if cf.appearance is None:
            raise InputError(f"--cameras-from {run_root}: frames/{c.id}.npz keeps no clothing looks (a run written "
                             f"before they were kept); process the recording without --cameras-from")
        gaps = [g for g in m.get("camera_gaps", []) if g.get("camera") == c.id]
        out[c.id] = CameraResult(cf, gaps, 0.0)
    return out, pose_hz


OCCLUDED_FRAC = 0.1  # share of a person's box another, nearer person may cover before that view's look is not used


def unoccluded_views(people: list, poses: list, cams: dict) -> list[list[tuple[str, int]]]:
    """Each skeleton's views in which nobody nearer that camera covers its box (more than OCCLUDED_FRAC of it).

    A look read from a view where someone stands in front mixes two people's clothes; the person
    in front is found from the skeletons themselves (their joints projected into that camera), so
    even one hidden inside another's detection counts.
    """
    cent = [np.nanmean(p.joints, axis=0) if np.isfinite(p.joints).any() else None for p in people]
    boxes: dict[tuple[int, str], tuple[float, float, float, float] | None] = {}

    def box_of(q: int, cid: str):
        if (q, cid) not in boxes:
            J = people[q].joints[np.isfinite(people[q].joints).all(1)]
            b = None
            if len(J):
                uv = cams[cid].project(J)
                x0, y0 = uv.min(0)
                x1, y1 = uv.max(0)
                pad = 0.1 * max(x1 - x0, y1 - y0)
                b = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
            boxes[(q, cid)] = b
        return boxes[(q, cid)]

    out = []
    for k, p in enumerate(people):
        keep = []
        for cid, i in p.views:
            bp = poses[i].box if i < len(poses) else None
            if bp is None or cent[k] is None:
                keep.append((cid, i))
                continue
            x0, y0, x1, y1 = bp
            area = max((x1 - x0) * (y1 - y0), 1.0)
            c = cams[cid].center
            dk = np.linalg.norm(cent[k] - c)
            hidden = False
            for q in range(len(people)):
                if q == k or cent[q] is None or np.linalg.norm(cent[q] - c) >= dk:
                    continue
                bq = box_of(q, cid)
                if bq is None:
                    continue
                w = min(x1, bq[2]) - max(x0, bq[0])
                h = min(y1, bq[3]) - max(y0, bq[1])
                if w > 0 and h > 0 and w * h / area > OCCLUDED_FRAC:
                    hidden = True
                    break
            if not hidden:
                keep.append((cid, i))
        out.append(keep)
    return out


def world_pass(rec, results: dict[str, CameraResult], pose_hz: float, progress: Progress | None,
               linker_values: dict[str, float] | None = None):
    """Skeletons per tick, then tracks."""
    from engine.multiview import reconstruct
    from engine.tracking import Linker, LinkerConfig

    cams = {c.id: c for c in rec.cameras}
    config = LinkerConfig().with_values(linker_values or {}).at_rate(pose_hz)
    linker = Linker(rec.store, rec.gate_events(), fps=pose_hz, config=config)
    ticks = ticks_of(rec.duration_s, pose_hz)
    prev = None
    seen: list[tuple[int, np.ndarray, np.ndarray]] = []  # (tick, floor xy, look) of every skeleton with a look
    for k, tk in enumerate(ticks):
        poses: list[Pose2D] = []
        apps: list[np.ndarray] = []
        for cid, res in results.items():
            cf = res.frames
            if not len(cf.times):
                continue
            fi = int(np.argmin(np.abs(cf.times - tk)))
            if abs(cf.times[fi] - tk) > 0.5 / pose_hz:
                continue
            for r in np.flatnonzero(cf.kp_frame == fi):
                poses.append(Pose2D(cid, float(cf.times[fi]), cf.kp[r].astype(float),
                                    tuple(int(v) for v in cf.det_box[cf.kp_det[r]]), int(r)))
                apps.append(cf.appearance[r])
        people = reconstruct(poses, cams, float(tk), prev)
        def look_of(views: list[tuple[str, int]]) -> np.ndarray | None:
            vs = [apps[i] for _, i in views if i < len(apps) and np.isfinite(apps[i]).all()]
            return _unit(np.median(vs, axis=0)) if vs else None

        looks = [look_of(p.views) for p in people]
        clean = [look_of(views) for views in unoccluded_views(people, poses, cams)]
        linker.update(float(tk), people, looks, clean)
        for p, lk in zip(people, looks):
            if lk is not None:
                seen.append((k, p.floor, lk))
        prev = people
        if progress and k % 10 == 0:
            progress("world", k / len(ticks))
    return ticks, linker.finish(), seen


def write_looks(root: Path, seen: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
    """RUN/looks.npz: every skeleton's clothing look by tick, so later stages can re-identify people."""
    np.savez_compressed(root / "looks.npz", tick=np.array([s[0] for s in seen], int),
                        xy=np.array([s[1] for s in seen], np.float32).reshape(-1, 2),
                        look=np.array([s[2] for s in seen], np.float32).reshape(-1, 12))


def process_recording(rec_root: Path, out: Path, opts: ProcessOptions | None = None,
                      progress: Progress | None = None) -> RunSummary:
    opts = opts or ProcessOptions()
    if opts.pose_hz is not None and not 0 < opts.pose_hz <= 60:
        raise InputError(f"--pose-hz: must be in (0, 60], got {opts.pose_hz}")
    from engine.tracking import LinkerConfig
    try:
        LinkerConfig().with_values(opts.linker)  # a misspelt setting fails before any work
    except (ValueError, TypeError) as e:
        raise InputError(f"--linker: {e}") from None
    t_start = time.perf_counter()
    rec_root, out = Path(rec_root), Path(out)
    rec = open_recording(rec_root)
    rec.gate_events()  # bad gate files fail before any work
    refuse_non_empty(out, opts.overwrite)
    from engine.pose2d import infer

    if any(c.video and not c.keypoints for c in rec.cameras) and not infer.default_weights().is_file():
        raise InputError(f"{infer.default_weights()}: the pose network's weights are missing "
                         f"(train them with `walkout train pose`)")
    cams = [c.id for c in rec.cameras]
    results: dict[str, CameraResult] = {}
    stage: dict[str, float] = {}
    t0 = time.perf_counter()
    hz = opts.pose_hz
    if opts.cameras_from is not None:  # without a rate asked for, the earlier run's
        reused, hz = cameras_from_run(rec, Path(opts.cameras_from), hz)
        results.update(reused)
    if hz is None:
        hz = pose_rate(sum(bool(c.video and not c.keypoints) for c in rec.cameras))
    for c in rec.cameras:  # smart cameras: their own 2D poses are used instead of the pixels
        if c.keypoints and c.id not in results:
            results[c.id] = keypoints_pass(rec_root, c.id, hz)
    video_cams = [cid for cid in cams if cid not in results]
    if video_cams and opts.workers <= 1:
        for n, cid in enumerate(video_cams):
            results[cid] = camera_pass(rec_root, cid, hz)
            if progress:
                progress("cameras", (n + 1) / len(video_cams))
    elif video_cams:
        with ProcessPoolExecutor(max_workers=opts.workers, mp_context=mp.get_context("spawn")) as ex:
            futs = {ex.submit(camera_pass, rec_root, cid, hz): cid for cid in video_cams}
            for n, f in enumerate(as_completed(futs)):
                results[futs[f]] = f.result()
                if progress:
                    progress("cameras", (n + 1) / len(video_cams))
    results = {cid: results[cid] for cid in cams}
    stage["cameras"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ticks, tracks, seen = world_pass(rec, results, hz, progress, opts.linker)
    stage["world"] = time.perf_counter() - t0
    P = len(tracks)
    joints = np.full((len(ticks), P, 17, 3), np.nan, np.float32)
    conf = np.zeros((len(ticks), P, 17), np.float32)
    floor = np.full((len(ticks), P, 2), np.nan, np.float32)
    index = {round(float(t), 6): k for k, t in enumerate(ticks)}
    for p, tr in enumerate(tracks):
        for n, t in enumerate(tr.times):
            k = index.get(round(float(t), 6))
            if k is None:
                k = int(np.argmin(np.abs(ticks - t)))
            joints[k, p] = tr.joints[n]
            conf[k, p] = tr.confidence[n]
            floor[k, p] = tr.floor[n]
    infos = [TrackInfo(id=tr.id, account=tr.account, role=tr.role, party=tr.party, born_in_entry=tr.born_in_entry,
                       ended_in_exit=tr.ended_in_exit, t0=tr.t_start, t1=tr.t_end,
                       tangled=[(float(a), float(b), str(o)) for a, b, o in tr.tangled],
                       reid=[dict(r.__dict__) for r in tr.reid], flags=list(tr.flags)) for tr in tracks]
    gaps = [g for r in results.values() for g in r.gaps]
    manifest = {"recording": rec.id, "recording_path": str(rec_root.resolve()), "duration_s": rec.duration_s,
                "pose_hz": hz, "cameras": cams, "camera_gaps": gaps,
                "stage_s": {k: round(v, 2) for k, v in stage.items()},
                "camera_s": {cid: round(r.seconds, 2) for cid, r in results.items()}}
    visits = ""
    with atomic_dir(out) as tmp:
        write_run(tmp, manifest, ticks, [tr.id for tr in tracks], joints, conf, floor, infos,
                  [r.frames for r in results.values()])
        write_looks(tmp, seen)
        if opts.cart:
            from engine.product_views import hand_viewer
            from engine.receipts import run_cart

            if progress:
                progress("cart", 0.0)
            res, sec = run_cart(rec_root, tmp, viewer_factory=hand_viewer)
            stage["cart"] = sec
            manifest["stage_s"] = {k: round(v, 2) for k, v in stage.items()}
            write_manifest(tmp, manifest)
            held = sum(v.status == "review" for v in res.evidence.visits)
            visits = f"{len(res.evidence.visits)} visits, {held} held for review"
            if progress:
                progress("cart", 1.0)
    return RunSummary(out, rec.duration_s, time.perf_counter() - t_start, P, stage, visits)
