"""The synthetic store end to end: a scenario in, a spec-conforming recording out.

Everything is written into a temporary directory beside OUT and renamed into
place at the end, so a failure (a bad scenario, a full disk, Ctrl-C) never
leaves a half-written recording behind. Cameras are rendered in parallel
worker processes; every random choice derives from the scenario's seed, so
the same scenario gives identical truth and identical video frames.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from data.cameras import Camera, read_cameras
from data.camera_placement import auto_cameras
from data.choreography import choreograph
from data.atomic import atomic_dir, refuse_non_empty
from data.loadcells import write_weights
from data.render import render_camera_streams
from data.scenario import AutoCameras, Scenario
from data.store import Catalog, Store, read_store_dir
from data.store_source import store_dir
from data.world import World

SIMULATOR = "walkout simulator 0.1.0"
Progress = Callable[[str, float], None]  # (stage, fraction done)


@dataclass
class CameraPlan:
    """One camera's frames: their times, which are blacked out, and the lighting gain."""
    camera: Camera
    times: np.ndarray
    black: np.ndarray
    gains: np.ndarray


def prepare_store(sc: Scenario, rec: Path) -> tuple[Store, Catalog]:
    """Put store.json and catalog/ into the recording, from a preset or a store directory."""
    src = store_dir(sc.store)
    read_store_dir(src)  # validates before anything is copied
    shutil.copy2(src / "store.json", rec / "store.json")
    shutil.copytree(src / "catalog", rec / "catalog")
    return read_store_dir(rec)


def prepare_cameras(sc: Scenario, store: Store) -> list[Camera]:
    """Cameras from a cameras.json (calibration and size kept, files named by us) or placed automatically."""
    if isinstance(sc.cameras, AutoCameras):
        cams = auto_cameras(store, sc.cameras)
    else:
        cams = read_cameras(sc.cameras)
        for c in cams:
            has_depth = c.depth is not None
            c.video = f"{c.id}.mp4"
            c.depth = f"{c.id}.depth.mkv" if has_depth else None
            c.keypoints = None
    return cams


def plan_frames(sc: Scenario, cams: list[Camera]) -> list[CameraPlan]:
    """Frame times per camera: not frame-locked (own start, slightly own rate, rare drops), faults applied."""
    plans = []
    for k, cam in enumerate(cams):
        rng = np.random.default_rng([sc.seed, 101, k])
        rate = cam.fps * (1 + rng.uniform(-5e-4, 5e-4))
        start = rng.uniform(0, 1.0 / cam.fps)
        start += sum(f.s or 0.0 for f in sc.faults if f.kind == "camera_offset" and f.camera == cam.id)
        n = max(int(np.floor((sc.duration_s - start) * rate)) + 1, 0)
        t = start + np.arange(n) / rate
        t = t[rng.random(n) > 0.002]  # a dropped frame now and then
        t = np.unique(np.round(t[t <= sc.duration_s], 3))
        black = np.zeros(len(t), bool)
        for f in sc.faults:
            if f.kind == "camera_blackout" and f.camera == cam.id:
                black |= (t >= f.start) & (t < f.end)
        gains = np.ones(len(t))
        for f in sc.faults:
            if f.kind == "lighting":
                gains[(t >= f.start) & (t < f.end)] *= f.gain
        plans.append(CameraPlan(cam, t, black, gains))
    return plans


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_truth(rec: Path, sc: Scenario, world: World) -> None:
    truth = rec / "truth"
    truth.mkdir()
    (truth / "receipts.json").write_text(json.dumps({"visits": world.visits}, indent=1))
    write_jsonl(truth / "events.jsonl", world.events)
    np.savez_compressed(truth / "poses.npz", t=world.times, people=np.array([p.id for p in world.people]),
                        joints=world.joints)
    (truth / "scenario.json").write_text(json.dumps(sc.to_json(), indent=1))
    people = [{"id": p.id, "role": p.role, "account": p.account, "entered_at": p.entered_at,
               "exited_at": p.exited_at, "height_m": p.appearance.height_m, "shirt": list(p.appearance.shirt),
               "trousers": list(p.appearance.trousers)} for p in world.people]
    (truth / "people.json").write_text(json.dumps({"people": people}, indent=1))
    (truth / "faults.json").write_text(json.dumps({"faults": [f.to_json() for f in sc.faults]}, indent=1))


_queue = None


def _init_worker(q) -> None:  # runs in each worker: progress goes back through q
    global _queue
    _queue = q


def _render(args, report: Callable[[float], None]) -> str:
    store, catalog, plan, world, video, depth, seed = args
    render_camera_streams(store, catalog, plan.camera, world, plan.times, plan.black, plan.gains, video, depth,
                          seed, report)
    return plan.camera.id


def _render_job(args) -> str:
    cid = args[2].camera.id
    return _render(args, lambda frac: _queue.put((cid, frac)) if _queue is not None else None)


def render_all(store: Store, catalog: Catalog, plans: list[CameraPlan], world: World, cam_dir: Path, seed: int,
               workers: int, progress: Progress | None) -> None:
    jobs = [(store, catalog, p, world, cam_dir / p.camera.video,
             cam_dir / p.camera.depth if p.camera.depth else None, seed * 1000 + k) for k, p in enumerate(plans)]
    done = {p.camera.id: 0.0 for p in plans}
    if workers <= 1:
        for j in jobs:
            _render(j, lambda f, cid=j[2].camera.id: _tick(done, cid, f, progress))
        return
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(q,)) as ex:
        futures = [ex.submit(_render_job, j) for j in jobs]
        while not all(f.done() for f in futures):
            try:
                cid, frac = q.get(timeout=0.2)
                _tick(done, cid, frac, progress)
            except Exception:  # queue.Empty: nothing new yet
                pass
        for f in futures:
            f.result()  # re-raise a worker's error here


def _tick(done: dict[str, float], cid: str, frac: float, progress: Progress | None) -> None:
    done[cid] = frac
    if progress:
        progress("render", sum(done.values()) / len(done))


def simulate(sc: Scenario, out: Path, *, overwrite: bool = False, workers: int = 2,
             progress: Progress | None = None, recording_id: str | None = None) -> Path:
    """Write the recording of scenario `sc` to `out`; returns out."""
    out = Path(out)
    refuse_non_empty(out, overwrite)
    with atomic_dir(out) as tmp:
        store, catalog = prepare_store(sc, tmp)
        cams = prepare_cameras(sc, store)
        world = choreograph(sc, store, catalog, {c.id for c in cams},
                            progress=(lambda f: progress("people", f)) if progress else None)
        plans = plan_frames(sc, cams)
        for d in ("cameras", "sensors", "gates"):
            (tmp / d).mkdir()
        (tmp / "cameras" / "cameras.json").write_text(json.dumps({"cameras": [c.to_json() for c in cams]},
                                                                indent=1))
        write_weights(tmp / "sensors" / "weights.csv", store, world, sc.noise_g, sc.faults, sc.seed)
        write_jsonl(tmp / "gates" / "events.jsonl", world.gate_scans)
        write_truth(tmp, sc, world)
        rid = recording_id or f"sim-{Path(sc.name).stem}-seed{sc.seed}"
        manifest = {"format": "walkout-recording/1", "id": rid,
                    "store": Path(sc.store).name if sc.store_is_dir else sc.store,
                    "started_at": "2026-11-23T09:00:00Z", "duration_s": float(sc.duration_s),
                    "source": f"{SIMULATOR}, scenario {Path(sc.name).stem}, seed {sc.seed}"}
        (tmp / "recording.json").write_text(json.dumps(manifest, indent=1))
        render_all(store, catalog, plans, world, tmp / "cameras", sc.seed, workers, progress)
    return out
