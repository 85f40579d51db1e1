"""A perception run made from a recording's truth: for evaluation and tests only, never for charging.

It lets the cart stage be measured apart from perception ("how good are receipts if tracking and
pose were perfect, or perfect but for this much wrist noise?"), and lets tests compute receipts
by hand on short scenarios without running the cameras. `identity_run` splits the two halves of
perception: the engine's own skeletons, with who is who taken from the truth ("how good would
receipts be if tracking never lost anyone, with the wrists we really see?").
"""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from data.recording import open_recording
from engine.run import TrackInfo, load_run, write_run

IDENTITY_GATE_M = 0.5  # a skeleton is a truth person's when its floor point is this close (as the tracking metric)


def truth_run(rec_root: Path, out: Path, hz: float = 5.0, wrist_noise_m: float = 0.0, seed: int = 0) -> Path:
    """Write an engine run whose tracks are the truth people (ids t-<person>), sampled at `hz`."""
    rec = open_recording(rec_root)
    z = np.load(Path(rec_root) / "truth" / "poses.npz")
    tt, names, tj = z["t"], [str(x) for x in z["people"]], z["joints"].astype(np.float64)
    ticks = np.arange(0.0, rec.duration_s + 1e-9, 1.0 / hz)
    idx = np.clip(np.searchsorted(tt, ticks), 0, len(tt) - 1)
    joints = tj[idx].copy()  # (T, P, 17, 3)
    rng = np.random.default_rng(seed)
    if wrist_noise_m > 0:
        joints[:, :, 9:11] += rng.normal(0, wrist_noise_m / np.sqrt(3), joints[:, :, 9:11].shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN while a person is not in the store
        floor = np.nanmean(joints[:, :, 15:17, :2], axis=2) if joints.size else np.zeros((len(ticks), 0, 2))
    tracks = _truth_tracks(rec, names, ticks, joints[:, :, 0, 0])
    keep = [names.index(t.id[2:]) for t in tracks]
    conf = np.where(np.isfinite(joints[:, keep][..., 0]), 1.0, 0.0)  # (T, P, 17)
    write_run(Path(out), {"recording": rec.id, "recording_path": str(Path(rec_root).resolve()),
                          "duration_s": rec.duration_s, "pose_hz": hz, "cameras": [c.id for c in rec.cameras],
                          "camera_gaps": [], "oracle": True, "wrist_noise_m": wrist_noise_m},
              ticks, [t.id for t in tracks], joints[:, keep], conf, floor[:, keep], tracks, [])
    return Path(out)


def _truth_tracks(rec, names: list[str], ticks: np.ndarray, present: np.ndarray) -> list[TrackInfo]:
    """One track per truth person seen (present (T, P) finite where seen), with its account, role and party."""
    truth = json.loads((rec.root / "truth" / "receipts.json").read_text())
    acct = {p: v["account"] for v in truth["visits"] for p in v["people"]}
    scans = rec.gate_events()
    role_of = {s["account"]: s["role"] for s in scans}
    events = rec.truth_events()
    tracks = []
    for p, name in enumerate(names):
        seen = np.flatnonzero(np.isfinite(present[:, p]))
        if not len(seen):
            continue
        a = acct.get(name) or next((e["account"] for e in events if e.get("person") == name), None)
        party = next((i for i, s in enumerate(scans) if s["account"] == a), None)
        tracks.append(TrackInfo(id=f"t-{name}", account=a, role=role_of.get(a, "shopper"), party=party,
                                born_in_entry=True, ended_in_exit=True, t0=float(ticks[seen[0]]),
                                t1=float(ticks[seen[-1]])))
    return tracks


def identity_run(rec_root: Path, run_dir: Path, out: Path) -> Path:
    """Write a copy of an engine run whose skeletons are regrouped by truth identity.

    At every tick the engine's skeletons are matched to the truth people by floor position (Hungarian,
    IDENTITY_GATE_M); each truth person becomes one track holding the skeletons matched to them, with
    their account, no tangles and no doubts. Joints, confidences and camera frames are the engine's own."""
    rec = open_recording(rec_root)
    run = load_run(run_dir)
    z = np.load(Path(rec_root) / "truth" / "poses.npz")
    tt, names = z["t"], [str(x) for x in z["people"]]
    idx = np.clip(np.searchsorted(tt, run.t), 0, len(tt) - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        tf = np.nanmean(z["joints"][idx][:, :, 15:17, :2], axis=2)  # (T, P, 2)
    T, P = len(run.t), len(names)
    joints = np.full((T, P, 17, 3), np.nan)
    conf = np.zeros((T, P, 17))
    floor = np.full((T, P, 2), np.nan)
    for k in range(T):
        a = np.flatnonzero(np.isfinite(run.floor[k, :, 0]))
        b = np.flatnonzero(np.isfinite(tf[k, :, 0]))
        if not len(a) or not len(b):
            continue
        D = np.linalg.norm(run.floor[k, a][:, None] - tf[k, b][None], axis=2)
        for i, j in zip(*linear_sum_assignment(D)):
            if D[i, j] <= IDENTITY_GATE_M:
                joints[k, b[j]], conf[k, b[j]], floor[k, b[j]] = run.joints[k, a[i]], run.confidence[k, a[i]], \
                    run.floor[k, a[i]]
    tracks = _truth_tracks(rec, names, run.t, floor[:, :, 0])
    keep = [names.index(t.id[2:]) for t in tracks]
    write_run(Path(out), {**run.manifest, "identity_oracle": True}, run.t, [t.id for t in tracks],
              joints[:, keep], conf[:, keep], floor[:, keep], tracks, [])
    for f in (Path(run_dir) / "frames").glob("*.npz"):  # the engine's per-camera results, as they are
        shutil.copy2(f, Path(out) / "frames" / f.name)
    return Path(out)
