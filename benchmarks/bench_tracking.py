"""Benchmark: tracking (issue 3) on random 8-shopper recordings and on the hard-case scenarios.

    .venv/bin/python benchmarks/bench_tracking.py [--seeds 1-5] [--scenarios all] [--root /tmp/walkout-bench/track]
    .venv/bin/python benchmarks/bench_tracking.py --retrack      # rerun only multi-view + tracking on kept runs

Random recordings are 60 s of corner-store with 8 shoppers in the store at once (as
benchmarks/bench_simulate.py makes them); the hard cases are benchmarks/scenarios/*.yaml
(tangles between look-alikes, head-on crossings, parties, a camera blackout). Each recording is
simulated once and kept under ROOT, with its camera stage; `--retrack` reuses that camera stage
(`walkout process --cameras-from`), so a change to multi-view or tracking is measured in seconds.

Prints, per recording and in all: IDF1, MOTA, identity switches, visits tracked entry to exit with
no switch, visits whose track carries the right account, and the pose errors. Bars (issue 3):
IDF1 >= 0.97, MOTA >= 0.95, clean visits >= 95 %.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

from data.camera_placement import auto_cameras
from data.random_scenario import Knobs, random_scenario
from data.scenario import AutoCameras, read_scenario
from data.simulate import simulate
from data.store_source import load_store
from engine.evaluate import evaluate_poses, evaluate_tracking
from engine.process import ProcessOptions, process_recording
from engine.run import load_run

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from cart_dataset import LINKER_HELP, linker_values, parse_seeds  # noqa: E402

SCENARIOS = REPO / "benchmarks" / "scenarios"
ROOT = Path("/tmp/walkout-bench/track")


def make_recording(name: str, rec: Path) -> None:
    """Simulate one benchmark recording (random seed N, or a scenario file's name) unless it is kept."""
    if (rec / "recording.json").is_file():
        return
    if name.startswith("seed-"):  # exactly what benchmarks/bench_simulate.py --seed N makes
        store, catalog = load_store("corner-store")
        cams = auto_cameras(store, AutoCameras(width=640, height=480, fps=15, depth=True))
        knobs = Knobs(seed=int(name[5:]), store="corner-store", duration_s=60.0, people=8, parties=1, crowding=1.0,
                      items=(2, 4), simultaneous=0.25, handovers=1, faults=0)
        scen = random_scenario(knobs, store, catalog, [c.id for c in cams])
    else:
        scen = read_scenario(SCENARIOS / f"{name}.yaml")
    simulate(scen, rec, workers=2, overwrite=True)


def account_right(rec: Path, run, per_person: dict) -> tuple[int, int]:
    """Visits whose main track carries the person's own account (what the receipt is charged to)."""
    truth = {p["id"]: p.get("account") for p in json.loads((rec / "truth" / "people.json").read_text())["people"]}
    infos = {t.id: t for t in run.tracks}
    ok = n = 0
    for pid, rowp in per_person.items():
        if truth.get(pid) is None:
            continue
        n += 1
        tracks = rowp["tracks"]
        ok += len(tracks) >= 1 and all(infos[t].account == truth[pid] for t in tracks if t in infos)
    return ok, n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1-5", help="random recordings, e.g. 1-5 (empty: none)")
    ap.add_argument("--scenarios", default="all", help="comma-separated names from benchmarks/scenarios, or all")
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--retrack", action="store_true", help="reuse the kept runs' camera stage")
    ap.add_argument("--pose-hz", type=float, default=None,
                    help="rate of 2D pose and 3D skeletons (default: walkout process's)")
    ap.add_argument("--linker", action="append", metavar="NAME=VALUE", help=LINKER_HELP)
    a = ap.parse_args()
    linker = linker_values(a.linker)
    names = [f"seed-{s}" for s in parse_seeds(a.seeds)]
    scen = sorted(p.stem for p in SCENARIOS.glob("*.yaml")) if a.scenarios == "all" else \
        [s for s in a.scenarios.split(",") if s]
    names += scen
    warnings.simplefilter("ignore", RuntimeWarning)
    rows = []
    print(f"{'recording':<16} {'IDF1':>6} {'MOTA':>6} {'sw':>3} {'clean':>6} {'account':>8} {'MPJPE':>6} "
          f"{'wrist':>6} {'world s':>7}")
    for name in names:
        rec, run_dir = a.root / name / "rec", a.root / name / "run"
        make_recording(name, rec)
        keep = run_dir.parent / "run.cameras"  # the camera stage
        if not a.retrack or not (keep / "run.json").is_file():
            process_recording(rec, keep, ProcessOptions(pose_hz=a.pose_hz, overwrite=True, cart=False))
        process_recording(rec, run_dir, ProcessOptions(pose_hz=a.pose_hz, overwrite=True, cameras_from=keep,
                                                       linker=linker))
        run = load_run(run_dir)
        tr, pairs = evaluate_tracking(rec, run)
        pose = evaluate_poses(rec, run, pairs)
        acc_ok, acc_n = account_right(rec, run, tr.per_person)
        world = float(run.manifest.get("stage_s", {}).get("world", float("nan")))
        rows.append((name, tr, pose, acc_ok, acc_n))
        print(f"{name:<16} {tr.idf1:6.3f} {tr.mota:6.3f} {tr.switches:3d} {tr.visits_clean:>3}/{tr.visits:<2} "
              f"{acc_ok:>4}/{acc_n:<3} {100 * pose.mpjpe_m:5.1f}cm {100 * pose.wrist_median_m:4.1f}cm {world:7.1f}",
              flush=True)
    for label, sel in (("random", [r for r in rows if r[0].startswith("seed-")]),
                       ("hard cases", [r for r in rows if not r[0].startswith("seed-")]), ("all", rows)):
        if not sel:
            continue
        idf1 = np.mean([r[1].idf1 for r in sel])
        mota = np.mean([r[1].mota for r in sel])
        clean = sum(r[1].visits_clean for r in sel)
        visits = sum(r[1].visits for r in sel)
        acc = sum(r[3] for r in sel), sum(r[4] for r in sel)
        print(f"{label}: mean IDF1 {idf1:.3f} (bar 0.97), mean MOTA {mota:.3f} (bar 0.95), clean visits "
              f"{clean}/{visits} = {clean / max(visits, 1):.1%} (bar 95 %), right account {acc[0]}/{acc[1]}, "
              f"switches {sum(r[1].switches for r in sel)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
