"""A perception run made from a recording's truth: for evaluation and tests only, never for charging.

It lets the cart stage be measured apart from perception ("how good are receipts if tracking and
pose were perfect, or perfect but for this much wrist noise?"), and lets tests compute receipts
by hand on short scenarios without running the cameras.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from data.recording import open_recording
from engine.run import TrackInfo, write_run


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
    truth = json.loads((Path(rec_root) / "truth" / "receipts.json").read_text())
    acct = {p: v["account"] for v in truth["visits"] for p in v["people"]}
    scans = rec.gate_events()
    role_of = {s["account"]: s["role"] for s in scans}
    events = rec.truth_events()
    tracks = []
    for p, name in enumerate(names):
        seen = np.flatnonzero(np.isfinite(joints[:, p, 0, 0]))
        if not len(seen):
            continue
        a = acct.get(name) or next((e["account"] for e in events if e.get("person") == name), None)
        party = next((i for i, s in enumerate(scans) if s["account"] == a), None)
        tracks.append(TrackInfo(id=f"t-{name}", account=a, role=role_of.get(a, "shopper"), party=party,
                                born_in_entry=True, ended_in_exit=True, t0=float(ticks[seen[0]]),
                                t1=float(ticks[seen[-1]])))
    keep = [names.index(t.id[2:]) for t in tracks]
    conf = np.where(np.isfinite(joints[:, keep, :, 0]), 1.0, 0.0)
    write_run(Path(out), {"recording": rec.id, "recording_path": str(Path(rec_root).resolve()),
                          "duration_s": rec.duration_s, "pose_hz": hz, "cameras": [c.id for c in rec.cameras],
                          "camera_gaps": [], "oracle": True, "wrist_noise_m": wrist_noise_m},
              ticks, [t.id for t in tracks], joints[:, keep], conf, floor[:, keep], tracks, [])
    return Path(out)
