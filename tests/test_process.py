"""`walkout process` end to end on a short simulated recording, scored by `walkout evaluate`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from data.random_scenario import Knobs, random_scenario
from data.camera_placement import auto_cameras
from data.scenario import AutoCameras
from data.simulate import simulate
from data.store_source import load_store
from engine.evaluate import evaluate
from engine.process import ProcessOptions, process_recording
from engine.run import load_run

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    d = tmp_path_factory.mktemp("proc")
    store, catalog = load_store("corner-store")
    cams = auto_cameras(store, AutoCameras())
    k = Knobs(seed=21, duration_s=24, people=3, parties=0, crowding=0.6, items=(1, 2))
    rec = simulate(random_scenario(k, store, catalog, [c.id for c in cams]), d / "rec")
    process_recording(rec, d / "run", ProcessOptions(pose_hz=5, workers=2))
    return rec, d / "run"


def test_the_run_is_complete_and_readable(processed):
    rec, run_dir = processed
    run = load_run(run_dir)
    assert run.joints.ndim == 4 and run.joints.shape[2:] == (17, 3)
    assert len(run.t) == run.joints.shape[0] and len(run.people) == run.joints.shape[1] >= 1
    assert len(run.tracks) == len(run.people)
    for cam in run.manifest["cameras"]:
        cf = run.camera_frames(cam)
        assert len(cf.times) > 0 and cf.kp.shape[1:] == (17, 3)


def test_tracking_and_pose_metrics_on_a_short_recording(processed):
    rec, run_dir = processed
    r = evaluate(rec, load_run(run_dir))
    t, p = r["tracking"], r["pose"]
    # thresholds for a 24 s, 3-person recording: well inside what `benchmarks/bench_process.py` measures
    assert t["mota"] >= 0.8 and t["idf1"] >= 0.8, t
    assert p["mpjpe_m"] <= 0.25 and p["wrist_median_m"] <= 0.45, p


def test_a_broken_recording_exits_2_with_a_message(tmp_path, processed):
    rec, _ = processed
    bad = tmp_path / "bad"
    subprocess.run(["cp", "-r", str(rec), str(bad)], check=True)
    (bad / "cameras" / "cam-01.mp4").write_bytes(b"not a video")
    r = subprocess.run([sys.executable, "-m", "app.cli", "process", str(bad), "--out", str(tmp_path / "run"), "-q"],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2, r.stderr
    assert "cam-01.mp4" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()
