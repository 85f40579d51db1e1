"""The labelled recordings the cart benchmark and the confidence calibration use.

    .venv/bin/python benchmarks/cart_dataset.py --seeds 100-115 [--root /tmp/walkout-bench/cart]

Each seed is a random corner-store scenario with about 40 % adversarial actions (simultaneous
reaches, look-alikes, put-backs and misplaced returns, hand-overs, touches, sensor and camera
faults), simulated and processed (perception) once and kept under ROOT/seed-N/{rec,run}.
Existing complete pairs are reused, so the command can be rerun to extend the set; `--reprocess`
processes the kept recordings again (after a change to perception), `--retrack` only reruns
multi-view, tracking and the cart on each run's kept camera stage (`walkout process --cameras-from`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from data.camera_placement import auto_cameras
from data.random_scenario import Knobs, random_scenario
from data.scenario import AutoCameras
from data.simulate import simulate
from data.store_source import load_store
from engine.process import ProcessOptions, process_recording
from engine.tracking import LinkerConfig

ROOT = Path("/tmp/walkout-bench/cart")


def adversarial_knobs(seed: int, store: str = "corner-store") -> Knobs:
    """About 40 % of actions adversarial; 8 shoppers in 75 s, the generator's default crowding."""
    return Knobs(seed=seed, store=store, duration_s=75.0, people=8, parties=2, associates=1, crowding=0.5,
                 items=(1, 3), simultaneous=0.4, lookalike=0.4, putback=0.15, misplaced=0.15, handovers=1,
                 touches=0.3, faults=2)


def parse_seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in filter(None, text.split(",")):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def linker_values(text: list[str] | None) -> dict[str, float]:
    """`--linker NAME=VALUE` arguments: LinkerConfig numbers to try without editing the engine."""
    out: dict[str, float] = {}
    for item in text or []:
        name, sep, value = item.partition("=")
        try:
            number = float(value) if sep else None
        except ValueError:
            number = None
        if number is None:
            raise SystemExit(f"--linker: expected NAME=NUMBER (a LinkerConfig setting), got {item!r}")
        out[name.strip()] = number
    try:
        LinkerConfig().with_values(out)
    except ValueError as e:
        raise SystemExit(f"--linker: {e}") from None
    return out


LINKER_HELP = "NAME=VALUE: a LinkerConfig setting to change (repeatable; sample counts as at 5 Hz)"


def ensure(seed: int, root: Path = ROOT, workers: int = 2, store: str = "corner-store", redo: str = "",
           pose_hz: float | None = None, linker: dict[str, float] | None = None) -> tuple[Path, Path]:
    """(rec, run) of one seed, simulated and processed if not there yet (or again: redo "process" / "track")."""
    d = root / f"seed-{seed}"
    rec, run = d / "rec", d / "run"
    if not (rec / "recording.json").exists():
        st, cat = load_store(store)
        cams = auto_cameras(st, AutoCameras())
        sc = random_scenario(adversarial_knobs(seed, store), st, cat, [c.id for c in cams])
        simulate(sc, rec, overwrite=True, workers=workers)
    cams = d / "run.cameras"  # the camera stage, kept for --retrack
    if redo == "process" or not (cams / "run.json").exists() or not (cams / "looks.npz").exists():
        process_recording(rec, cams, ProcessOptions(pose_hz=pose_hz, workers=workers, overwrite=True, cart=False))
        redo = "track"
    if redo == "track" or not (run / "run.json").exists():
        process_recording(rec, run, ProcessOptions(pose_hz=pose_hz, workers=workers, overwrite=True, cameras_from=cams,
                                                   linker=linker or {}))
    return rec, run


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="100-115")
    ap.add_argument("--root", type=Path, default=ROOT)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pose-hz", type=float, default=None,
                    help="rate of 2D pose and 3D skeletons (default: walkout process's)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--reprocess", action="store_true", help="process the kept recordings again")
    g.add_argument("--retrack", action="store_true", help="rerun multi-view, tracking and the cart only")
    ap.add_argument("--linker", action="append", metavar="NAME=VALUE", help=LINKER_HELP)
    a = ap.parse_args()
    linker = linker_values(a.linker)
    redo = "process" if a.reprocess else "track" if a.retrack else ""
    for s in parse_seeds(a.seeds):
        t0 = time.perf_counter()
        rec, run = ensure(s, a.root, a.workers, redo=redo, pose_hz=a.pose_hz, linker=linker)
        print(f"seed {s}: {rec} {run} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
