"""Per-stage metrics of an engine run against a recording's truth/ (`walkout evaluate REC RUN`).

Tracking is scored on floor positions with py-motmetrics (a 0.5 m gate), on the engine's own time
grid. Each truth person's floor point is between their ankles. Pose errors are measured on the
pairs that the tracking match produced, so a skeleton is only compared with the person its track
really follows.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import motmetrics as mm
import numpy as np

from data.world import L_WRIST, R_WRIST
from engine.run import Run

GATE_M = 0.5


@dataclass
class TrackingReport:
    idf1: float
    mota: float
    motp_m: float
    switches: int
    misses: int
    false_positives: int
    visits: int  # truth people
    visits_clean: int  # tracked entry to exit by one track with no identity switch
    per_person: dict[str, dict] = field(default_factory=dict)


@dataclass
class PoseReport:
    mpjpe_m: float
    wrist_median_m: float
    wrist_p90_m: float
    per_joint_median_m: list[float]
    pairs: int
    wrist_side_blind_median_m: float = float("nan")


def truth_poses(rec_root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = np.load(Path(rec_root) / "truth" / "poses.npz")
    return z["t"], z["people"], z["joints"]


def _truth_index(tt: np.ndarray, t: float) -> int | None:
    i = int(np.argmin(np.abs(tt - t)))
    return i if abs(tt[i] - t) <= 0.6 / 30 + 1e-6 else None


def evaluate_tracking(rec_root: Path, run: Run) -> tuple[TrackingReport, list[tuple[int, int, int, int]]]:
    """Scores and the matched (engine time index, truth time index, truth person, track) pairs."""
    tt, tp, tj = truth_poses(rec_root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # people not in the store: NaN, as intended
        truth_floor = np.nanmean(tj[:, :, 15:17, :2], axis=2)
    acc = mm.MOTAccumulator(auto_id=True)
    pairs: list[tuple[int, int, int, int]] = []
    presence: dict[int, int] = {}
    for k, t in enumerate(run.t):
        i = _truth_index(tt, float(t))
        if i is None:
            continue
        objs = np.flatnonzero(np.isfinite(truth_floor[i]).all(1))
        hyps = np.flatnonzero(np.isfinite(run.floor[k]).all(1))
        for o in objs:
            presence[int(o)] = presence.get(int(o), 0) + 1
        d = mm.distances.norm2squared_matrix(truth_floor[i][objs], run.floor[k][hyps], max_d2=GATE_M ** 2)
        acc.update(objs.tolist(), hyps.tolist(), d)
    ev = acc.mot_events
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=["idf1", "mota", "motp", "num_switches", "num_misses", "num_false_positives"],
                   name="run")
    # map motmetrics' frame ids back to (engine k, truth i)
    ks = [k for k, t in enumerate(run.t) if _truth_index(tt, float(t)) is not None]
    per: dict[str, dict] = {}
    matched = ev[ev["Type"].isin(["MATCH", "SWITCH"])]
    for (frame, _), row in matched.iterrows():
        k = ks[int(frame)]
        i = _truth_index(tt, float(run.t[k]))
        pairs.append((k, int(i), int(row["OId"]), int(row["HId"])))
    clean = 0
    for o, n in presence.items():
        rows = matched[matched["OId"] == o]
        ids = set(rows["HId"].astype(int).tolist())
        switched = bool((ev[(ev["Type"] == "SWITCH") & (ev["OId"] == o)]).shape[0])
        cover = len(rows) / max(n, 1)
        ok = len(ids) == 1 and not switched and cover >= 0.95
        clean += ok
        per[str(tp[o])] = {"tracks": sorted(str(run.people[h]) for h in ids), "coverage": round(cover, 3),
                           "switches": int((ev[(ev["Type"] == "SWITCH") & (ev["OId"] == o)]).shape[0]),
                           "clean": ok}
    rep = TrackingReport(idf1=float(s["idf1"].iloc[0]), mota=float(s["mota"].iloc[0]),
                         motp_m=float(np.sqrt(s["motp"].iloc[0])) if np.isfinite(s["motp"].iloc[0]) else float("nan"),
                         switches=int(s["num_switches"].iloc[0]), misses=int(s["num_misses"].iloc[0]),
                         false_positives=int(s["num_false_positives"].iloc[0]), visits=len(presence),
                         visits_clean=clean, per_person=per)
    return rep, pairs


def evaluate_poses(rec_root: Path, run: Run, pairs: list[tuple[int, int, int, int]]) -> PoseReport:
    _, _, tj = truth_poses(rec_root)
    errs, blind = [], []  # blind: each engine wrist against the nearer true wrist (a hand found, any label)
    for k, i, o, h in pairs:
        ej, tjo = run.joints[k, h].astype(float), tj[i, o].astype(float)
        errs.append(np.linalg.norm(ej - tjo, axis=1))
        ew, tw = ej[[L_WRIST, R_WRIST]], tjo[[L_WRIST, R_WRIST]]
        straight, crossed = np.linalg.norm(ew - tw, axis=1), np.linalg.norm(ew - tw[::-1], axis=1)
        if np.isfinite(straight).all() and np.isfinite(crossed).all():
            blind.extend(crossed if crossed.sum() < straight.sum() else straight)
    if not errs:
        return PoseReport(float("nan"), float("nan"), float("nan"), [float("nan")] * 17, 0, float("nan"))
    E = np.array(errs)  # (N, 17), NaN where the engine had no estimate
    wrists = E[:, [L_WRIST, R_WRIST]].ravel()
    wrists = wrists[np.isfinite(wrists)]
    side_blind = float(np.median(blind)) if blind else float("nan")
    return PoseReport(mpjpe_m=float(np.nanmean(E)), wrist_median_m=float(np.median(wrists)) if len(wrists) else
                      float("nan"), wrist_p90_m=float(np.percentile(wrists, 90)) if len(wrists) else float("nan"),
                      per_joint_median_m=[float(np.nanmedian(E[:, j])) for j in range(17)], pairs=len(E),
                      wrist_side_blind_median_m=side_blind)


def evaluate(rec_root: Path, run: Run) -> dict:
    tr, pairs = evaluate_tracking(rec_root, run)
    po = evaluate_poses(rec_root, run, pairs)
    out = {"tracking": tr.__dict__, "pose": po.__dict__}
    if (run.root / "receipts.json").exists():
        from data.recording import open_recording
        from engine.evaluate_cart import evaluate_cart
        from engine.evidence import load_evidence

        rep = evaluate_cart(open_recording(rec_root), load_evidence(run.root))
        out["cart"] = rep.as_dict()
    return out


def format_report(r: dict) -> str:
    t, p = r["tracking"], r["pose"]
    lines = [
        "tracking (floor positions, 0.5 m gate, py-motmetrics)",
        f"  IDF1 {t['idf1']:.3f}   MOTA {t['mota']:.3f}   MOTP {t['motp_m'] * 100:.1f} cm   "
        f"switches {t['switches']}   misses {t['misses']}   false positives {t['false_positives']}",
        f"  visits tracked entry to exit with no identity switch: {t['visits_clean']}/{t['visits']}"
        f" ({100 * t['visits_clean'] / max(t['visits'], 1):.1f}%)",
        "pose (3D, matched pairs)",
        f"  MPJPE {p['mpjpe_m'] * 100:.1f} cm   wrist median {p['wrist_median_m'] * 100:.1f} cm   "
        f"wrist p90 {p['wrist_p90_m'] * 100:.1f} cm   pairs {p['pairs']}",
        f"  wrists side-blind (each against the nearer true wrist): median "
        f"{p.get('wrist_side_blind_median_m', float('nan')) * 100:.1f} cm",
    ]
    if "cart" in r:
        from engine.evaluate_cart import format_cart_lines

        lines += format_cart_lines(r["cart"])
    return "\n".join(lines)
