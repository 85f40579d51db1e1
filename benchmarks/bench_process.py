"""Benchmark: `process` (perception) on a simulated recording, then `evaluate` against its truth.

    .venv/bin/python benchmarks/bench_process.py [--rec REC] [--seed N] [--people 8] [--duration 60]

Without --rec it first simulates 60 s of corner-store with 8 shoppers in the store at once
(6 cameras, 640x480, 15 fps, depth), as benchmarks/bench_simulate.py does. Budget (issue 3):
wall time no more than the recording lasts (goal: half), peak memory under 4 GB.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.evaluate import evaluate, format_report
from engine.process import ProcessOptions, process_recording
from engine.run import load_run

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rec", type=Path)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--pose-hz", type=float, default=None, help="default: walkout process's")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    rec = a.rec
    if rec is None:
        rec = work / "rec"
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_simulate.py"), "--out", str(rec), "--seed",
                        str(a.seed), "--people", str(a.people), "--duration", str(a.duration)], check=True)
    t0 = time.perf_counter()
    s = process_recording(rec, work / "run", ProcessOptions(pose_hz=a.pose_hz, workers=a.workers, overwrite=True))
    wall = time.perf_counter() - t0
    peak_main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    run = load_run(work / "run")
    print(f"recording {rec} ({s.duration_s:g} s), {len(run.manifest['cameras'])} cameras, "
          f"pose at {run.manifest['pose_hz']:g} Hz, {a.workers} workers")
    print(f"process wall {wall:.1f} s: ratio {wall / s.duration_s:.2f} (budget 1.00, goal 0.50); stages "
          + ", ".join(f"{k} {v:.1f} s" for k, v in s.stage_s.items()))
    print("per camera pass (s): " + ", ".join(f"{k} {v:.1f}" for k, v in run.manifest["camera_s"].items()))
    print(f"peak RSS main {peak_main:.0f} MB, largest worker {peak_kids:.0f} MB (budget 4096 MB)")
    if (rec / "truth").is_dir():
        print(format_report(evaluate(rec, run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
