"""Benchmark: simulate 60 s of corner-store with 8 shoppers in the store at once, 6 cameras at
640x480 and 15 fps, colour and depth. Budget (design.md): no more wall time than the recording lasts.

    .venv/bin/python benchmarks/bench_simulate.py [--out DIR] [--seed N] [--store corner-store]

Prints wall time per stage, the ratio to real time, peak memory and the recording's size, and
checks the result with ../shared/tools/check_recording.py when it is there.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from data.camera_placement import auto_cameras
from data.random_scenario import Knobs, random_scenario
from data.scenario import AutoCameras
from data.simulate import simulate
from data.store_source import load_store

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--store", default="corner-store")
    ap.add_argument("--people", type=int, default=8)
    ap.add_argument("--cameras", type=int, default=6)
    ap.add_argument("--duration", type=float, default=60.0)
    a = ap.parse_args()
    store, catalog = load_store(a.store)
    auto = AutoCameras(width=640, height=480, fps=15, depth=True)
    cams = auto_cameras(store, auto)
    k = Knobs(seed=a.seed, store=a.store, duration_s=a.duration, people=a.people, parties=1, crowding=1.0,
              items=(2, 4), simultaneous=0.25, handovers=1, faults=0)
    sc = random_scenario(k, store, catalog, [c.id for c in cams])
    tmpdir = None
    if len(cams) != a.cameras:
        # pin the camera count: the first N of a denser automatic placement, as a cameras.json
        tmpdir = Path(tempfile.mkdtemp())
        spacing = auto.spacing_m
        while len(cams) < a.cameras and spacing > 0.5:
            spacing *= 0.8
            cams = auto_cameras(store, AutoCameras(spacing_m=spacing, width=640, height=480, fps=15, depth=True))
        cams = cams[:a.cameras]
        (tmpdir / "cameras.json").write_text(json.dumps({"cameras": [c.to_json() for c in cams]}))
        sc.cameras = tmpdir / "cameras.json"
    out = a.out or Path(tempfile.mkdtemp()) / "bench.rec"
    stages: dict[str, float] = {}
    t_stage = [time.perf_counter(), ""]

    def progress(stage: str, frac: float) -> None:
        now = time.perf_counter()
        if stage != t_stage[1]:
            if t_stage[1]:
                stages[t_stage[1]] = now - t_stage[0]
            t_stage[0], t_stage[1] = now, stage

    t0 = time.perf_counter()
    simulate(sc, out, overwrite=True, workers=2, progress=progress)
    wall = time.perf_counter() - t0
    stages[t_stage[1]] = time.perf_counter() - t_stage[0]
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    vids = sum(f.stat().st_size for f in (out / "cameras").iterdir())
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    z = np.load(out / "truth" / "poses.npz")
    most = int(np.isfinite(z["joints"][:, :, 0, 0]).sum(1).max())
    print(f"store {a.store}, {len(sc.people)} people (at most {most} in the store at once), {len(cams)} cameras "
          f"640x480 @ 15 fps + depth, {a.duration:g} s")
    print("stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
    print(f"wall {wall:.1f} s for {a.duration:g} s recorded: ratio {wall / a.duration:.2f} (budget <= 1.00)")
    print(f"recording {size / 1e6:.1f} MB (video+depth {vids / 1e6:.1f} MB); peak RSS main {peak_self:.0f} MB, "
          f"largest worker {peak_kids:.0f} MB")
    checker = REPO.parent / "shared" / "tools" / "check_recording.py"
    if checker.exists():
        r = subprocess.run([sys.executable, str(checker), str(out)], capture_output=True, text=True)
        print("check_recording:", r.stdout.strip().splitlines()[-1])
    if a.out is None:
        shutil.rmtree(out.parent, ignore_errors=True)
    if tmpdir:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
