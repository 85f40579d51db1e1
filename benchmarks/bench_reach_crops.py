"""How well the 2D pose network finds a wrist reaching into a bin, with the depth detector's boxes as they are
and grown over the arm going into the shelf (`DepthParams.reach_in_m`).

    .venv/bin/python benchmarks/bench_reach_crops.py --root R --seeds 102-105 [--reach-in 0.1,0.15] [--reach-out 0.25]

R holds cart recordings (`benchmarks/cart_dataset.py`: R/seed-N/rec). At every take whose true wrist is in
the bin 0.3 s after the change, each camera that sees that wrist and the hips is read: the detector runs on
the depth frame (fresh, no memory) once per setting, the pose network on its boxes. Scored against the
truth projected: the reaching wrist's error (the nearer of the two predicted wrists, in pixels), and for
every person in view the median error of the body joints and of the arm joints (same detection, matched on
the baseline's body joints within 15 px).
"""
from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cart_dataset import parse_seeds  # noqa: E402

from data.recording import open_recording  # noqa: E402
from engine.detection import DepthDetector, DepthParams  # noqa: E402
from engine.frames import CameraStream  # noqa: E402
from engine.hands import box_distance  # noqa: E402
from engine.pose2d.infer import PoseEstimator  # noqa: E402

BODY = [0, 5, 6, 11, 12, 13, 14, 15, 16]
ARMS = [7, 8, 9, 10]


def reaching_moments(rec, tt: np.ndarray, names: list[str], tj: np.ndarray) -> list[tuple[float, int, int, int]]:
    """(time, person, wrist joint, truth index) of each take whose true wrist is in the bin 0.3 s after it."""
    bins = {b.id: b for b in rec.store.bins}
    out = []
    for e in rec.truth_events():
        if e["kind"] != "take" or e.get("person") not in names:
            continue
        o, b = names.index(e["person"]), bins[e["bin"]]
        k = int(np.argmin(np.abs(tt - (e["t"] + 0.3))))
        d = [box_distance(tj[k, o, w].astype(float), np.asarray(b.min), np.asarray(b.max)) for w in (9, 10)]
        if min(d) <= 0.05:
            out.append((float(tt[k]), o, (9, 10)[int(np.argmin(d))], k))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--seeds", default="102-105")
    ap.add_argument("--reach-in", default="0.15", help="comma-separated reach_in_m values (0, the baseline, is added)")
    ap.add_argument("--reach-out", type=float, default=DepthParams().reach_out_m)
    a = ap.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)
    settings = [0.0] + [float(x) for x in a.reach_in.split(",") if float(x) > 0]
    est = PoseEstimator()
    res = {v: {"reach": [], "body": [], "arms": [], "changed": 0} for v in settings}
    for s in parse_seeds(a.seeds):
        d = a.root / f"seed-{s}"
        rec = open_recording(d / "rec")
        z = np.load(d / "rec" / "truth" / "poses.npz")
        tt, names, tj = z["t"], [str(x) for x in z["people"]], z["joints"]
        moments = reaching_moments(rec, tt, names, tj)
        for cam in rec.cameras:
            stream = CameraStream(rec, cam)
            dets = {v: DepthDetector(rec.store, cam, replace(DepthParams(), reach_in_m=v, reach_out_m=a.reach_out))
                    for v in settings}
            for t, o, w, k in moments:
                fr = stream.frame_at(t, rgb=True, depth=True)
                if abs(fr.t - t) > 0.04:
                    continue
                uv = np.stack([cam.project(tj[k, q].astype(float)) for q in range(len(names))])  # (P, 17, 2)
                if not cam.in_image(uv[o][[w, 11, 12]]).all():
                    continue
                got = {}
                for v, det in dets.items():
                    det._mem = None  # each moment on its own
                    found = det(fr.depth, fr.t)
                    got[v] = (found, est.predict(fr.rgb, [x.box for x in found]) if found else np.zeros((0, 17, 3)))
                base, kp0 = got[0.0]
                for q in range(len(names)):
                    if not np.isfinite(uv[q]).all() or not cam.in_image(uv[q][[11, 12]]).all():
                        continue
                    fit = []
                    for i in range(len(base)):
                        ok = kp0[i, :, 2] > 0.3
                        ok[ARMS] = False
                        if ok.sum() >= 3:
                            fit.append((float(np.median(np.linalg.norm(kp0[i, ok, :2] - uv[q][ok], axis=1))), i))
                    if not fit or min(fit)[0] > 15:
                        continue
                    i = min(fit)[1]
                    for v in settings:
                        found, kp = got[v]
                        if len(found) != len(base):
                            continue
                        r = res[v]
                        r["body"].append(np.median(np.linalg.norm(kp[i, BODY, :2] - uv[q][BODY], axis=1)))
                        r["arms"].append(np.median(np.linalg.norm(kp[i, ARMS, :2] - uv[q][ARMS], axis=1)))
                        r["changed"] += int(found[i].box != base[i].box)
                        if q == o:
                            r["reach"].append(min(np.linalg.norm(kp[i, j, :2] - uv[q][w]) for j in (9, 10)))
            stream.close()
        print(f"seed {s}: {len(moments)} reaching moments", flush=True)
    print(f"reach_out_m {a.reach_out}")
    for v in settings:
        r = res[v]
        W, B, A = np.array(r["reach"]), np.array(r["body"]), np.array(r["arms"])
        print(f"reach_in_m {v:.2f}: reaching wrist ({len(W)} views) median {np.median(W):.1f} px, over 15 px "
              f"{np.mean(W > 15):.3f} | everyone in view ({len(B)}, box changed {r['changed']}): body median "
              f"{np.median(B):.2f} px (p90 {np.percentile(B, 90):.1f}), arms median {np.median(A):.2f} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
