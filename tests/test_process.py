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
    # issue 3's bars, on a 24 s, 3-person recording (measured: IDF1 and MOTA 1.00, MPJPE 4.8 cm, wrist 2.8 cm)
    assert t["mota"] >= 0.95 and t["idf1"] >= 0.97 and t["visits_clean"] == t["visits"], t
    assert p["mpjpe_m"] <= 0.08 and p["wrist_median_m"] <= 0.06, p


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


def test_rerun_from_the_camera_stage(processed, tmp_path):
    """--cameras-from reruns multi-view, tracking and the cart on a kept camera stage: same tracks, no decoding;
    without --pose-hz the earlier run's rate is used (this run was made at 5 Hz, the default is 7.5); a run of another
    recording, of another pose rate, with no readable rate or without looks is refused with a message, exit 2."""
    import json
    import shutil

    import numpy as np

    rec, run_dir = processed

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "app.cli", "process", str(rec), "-q", *map(str, args)],
                              capture_output=True, text=True, cwd=REPO)

    r = cli("--out", tmp_path / "again", "--cameras-from", run_dir)
    assert r.returncode == 0, r.stderr
    a, b = load_run(run_dir), load_run(tmp_path / "again")
    assert list(a.people) == list(b.people)
    assert np.allclose(a.joints, b.joints, equal_nan=True) and np.allclose(a.floor, b.floor, equal_nan=True)
    assert b.manifest["camera_s"] == {c: 0.0 for c in b.manifest["cameras"]}
    assert (tmp_path / "again" / "receipts.json").is_file()

    r = cli("--out", tmp_path / "x1", "--cameras-from", run_dir, "--pose-hz", "10")
    assert r.returncode == 2 and "--pose-hz" in r.stderr and "Traceback" not in r.stderr

    def with_manifest(name, **fields):
        """A copy of the run whose run.json has these fields changed."""
        copy = tmp_path / name
        shutil.copytree(run_dir, copy)
        meta = json.loads((copy / "run.json").read_text())
        (copy / "run.json").write_text(json.dumps({**meta, **fields}))
        return copy

    r = cli("--out", tmp_path / "x2", "--cameras-from", with_manifest("other", recording="someone-else"))
    assert r.returncode == 2 and "someone-else" in r.stderr and "Traceback" not in r.stderr
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    cam = a.manifest["cameras"][0]
    z = dict(np.load(old / "frames" / f"{cam}.npz"))
    z.pop("appearance")
    np.savez_compressed(old / "frames" / f"{cam}.npz", **z)
    r = cli("--out", tmp_path / "x3", "--cameras-from", old)
    assert r.returncode == 2 and "no clothing looks" in r.stderr and "Traceback" not in r.stderr
    r = cli("--out", tmp_path / "x4", "--cameras-from", with_manifest("rateless", pose_hz="fast"))
    assert r.returncode == 2 and "run.json: pose_hz" in r.stderr and "'fast'" in r.stderr and "Traceback" not in r.stderr
    assert not any((tmp_path / f"x{i}").exists() for i in (1, 2, 3, 4))


def _smart_camera_copy(rec: Path, out: Path, noise_px: float = 2.0) -> Path:
    """The same recording as delivered by smart cameras: per camera a keypoints file (truth projected,
    with pixel noise, joints outside the image at score 0) and no video."""
    import json
    import shutil

    import numpy as np

    from data.recording import open_recording

    shutil.copytree(rec, out, ignore=shutil.ignore_patterns("*.mp4", "*.mkv"))
    r = open_recording(rec)
    z = np.load(rec / "truth" / "poses.npz")
    rng = np.random.default_rng(0)
    cams = json.loads((rec / "cameras" / "cameras.json").read_text())
    for c, cam in zip(cams["cameras"], r.cameras):
        c["video"], c["depth"], c["keypoints"] = None, None, f"{cam.id}.keypoints.jsonl"
        lines = []
        for k in range(0, len(z["t"]), 2):  # 15 fps
            people = []
            for j in z["joints"][k]:
                if not np.isfinite(j).all():
                    continue
                uv = cam.project(j) + rng.normal(0, noise_px, (17, 2))
                ok = cam.in_image(uv)
                if ok.sum() < 6:
                    continue
                people.append([[float(u), float(v), 1.0 if o else 0.0] for (u, v), o in
                               zip(np.nan_to_num(uv), ok)])
            lines.append(json.dumps({"t": round(float(z["t"][k]), 4), "people": people}))
        (out / "cameras" / c["keypoints"]).write_text("\n".join(lines) + "\n")
    (out / "cameras" / "cameras.json").write_text(json.dumps(cams))
    return out


def test_cameras_that_deliver_keypoints_are_used_instead_of_pixels(processed, tmp_path):
    rec, _ = processed
    smart = _smart_camera_copy(rec, tmp_path / "smart")
    process_recording(smart, tmp_path / "run", ProcessOptions(pose_hz=5, workers=1))
    r = evaluate(smart, load_run(tmp_path / "run"))
    assert r["tracking"]["idf1"] >= 0.95 and r["tracking"]["visits_clean"] == r["tracking"]["visits"], r["tracking"]
    assert r["pose"]["mpjpe_m"] <= 0.06 and r["pose"]["wrist_median_m"] <= 0.06, r["pose"]


def test_the_default_skeleton_rate_is_the_highest_the_time_budget_allows():
    """7.5 Hz up to 8 cameras with video (a 6-camera corner store processes at 0.76x real time on 2 cores), 5 Hz
    beyond (16 cameras: 1.31x at 7.5 Hz, 0.75x at 5 Hz); smart cameras' keypoints cost next to nothing."""
    from engine.process import pose_rate

    assert pose_rate(6) == pose_rate(8) == 7.5
    assert pose_rate(9) == pose_rate(16) == 5.0


def test_a_misspelt_linker_setting_is_refused_before_any_work(tmp_path):
    """Benchmarks pass `--linker NAME=VALUE` through ProcessOptions.linker: a wrong name is named, with the
    settings there are, before the recording is even opened."""
    from data.errors import InputError

    with pytest.raises(InputError, match="--linker: LinkerConfig has no setting coast_dmp .*coast_damp"):
        process_recording(tmp_path / "no.rec", tmp_path / "run", ProcessOptions(linker={"coast_dmp": 0.3}))
    assert not (tmp_path / "run").exists()
