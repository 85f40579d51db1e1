"""End to end: scenarios in, recordings out that the shared checker accepts, whose pixels agree
with their truth, and that come out identical from the same seed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import CHECKER
from data.camera_placement import auto_cameras
from data.random_scenario import Knobs, random_scenario
from data.recording import open_recording, validate_recording
from data.render import Background
from data.scenario import AutoCameras, read_scenario
from data.simulate import simulate
from data.store_source import load_store
from data.video_io import read_frames
from data.world import L_EAR, L_HIP, L_SHOULDER, R_EAR, R_HIP, R_SHOULDER

pytestmark = pytest.mark.slow


def check(rec: Path) -> None:
    """The shared conformance checker, run as a user would."""
    assert CHECKER.exists(), f"the shared checker is missing at {CHECKER}"
    r = subprocess.run([sys.executable, str(CHECKER), str(rec)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "conforms to walkout-recording/1" in r.stdout


SCENARIO = """
format: walkout-scenario/1
seed: 11
duration_s: 16
store: corner-store
cameras:
  auto: {{width: 320, height: 240, fps: 10, depth: true}}
people:
  - id: p1
    account: acct-a
    enter_at: 0.5
    look: {{shirt: [220, 30, 30], trousers: [30, 30, 40], height_m: 1.80}}
    actions:
      - {{do: take, bin: {b1}, qty: 1}}
      - {{do: take, bin: {b2}, qty: 1}}
  - id: p2
    account: acct-b
    enter_at: 1.0
    look: {{shirt: [30, 60, 220], trousers: [90, 80, 60], height_m: 1.65}}
    actions:
      - {{do: touch, bin: {b2}, s: 1.0}}
faults:
  - {{kind: camera_blackout, camera: cam-02, from: 5.0, to: 7.0}}
  - {{kind: camera_offset, camera: cam-03, s: 0.4}}
  - {{kind: sensor_spike, sensor: lc-01, at: 9.0, grams: 300, s: 0.3}}
  - {{kind: sensor_dropout, sensor: lc-02, from: 3.0, to: 4.0}}
  - {{kind: lighting, from: 10.0, to: 14.0, gain: 0.6}}
"""


@pytest.fixture(scope="module")
def corner_rec(tmp_path_factory) -> tuple[Path, Path]:
    store, _ = load_store("corner-store")
    d = tmp_path_factory.mktemp("corner")
    b1, b2 = store.bins[0].id, store.bins[len(store.bins) // 2].id
    f = d / "s.yaml"
    f.write_text(SCENARIO.format(b1=b1, b2=b2))
    return simulate(read_scenario(f), d / "rec"), f


def test_corner_store_recording_conforms(corner_rec):
    rec, _ = corner_rec
    check(rec)
    assert validate_recording(rec) == []
    r = open_recording(rec)
    assert 4 <= len(r.cameras) <= 6
    truth = json.loads((rec / "truth" / "receipts.json").read_text())
    assert [len(v["lines"]) for v in truth["visits"]] == [2, 0]


def test_faults_are_honoured(corner_rec):
    rec, _ = corner_rec
    r = open_recording(rec)
    # blackout: black frames from 5 to 7 s on cam-02
    for t, img in read_frames(rec / "cameras" / "cam-02.mp4"):
        if 5.0 <= t < 7.0:
            assert img.max() <= 8, t
    # offset: cam-03 starts late
    first = next(read_frames(rec / "cameras" / "cam-03.mp4"))[0]
    assert first >= 0.4
    w = r.weights()
    t, g = w["lc-02"]
    assert not np.any((t >= 3.0) & (t < 4.0))
    t, g = w["lc-01"]
    assert g[(t >= 9.0) & (t < 9.3)].min() > np.median(g) + 200


def test_truth_poses_land_on_the_person_in_every_camera(corner_rec):
    """Project truth torsos into each camera: at those pixels the decoded depth is the person's
    (nearer than the empty store) and the colour is the person's shirt; off the people it is the store."""
    rec, _ = corner_rec
    r = open_recording(rec)
    z = np.load(rec / "truth" / "poses.npz")
    shirts = {"p1": np.array([220, 30, 30]), "p2": np.array([30, 60, 220])}
    checked = 0
    for cam in r.cameras:
        bg = Background(r.store, r.catalog, cam)
        colour = dict(read_frames(rec / "cameras" / cam.video))
        depth = dict(read_frames(rec / "cameras" / cam.depth))
        for t in list(colour)[::7]:
            if not 1.0 < t < 14.0 or (cam.id == "cam-02" and 5.0 <= t < 7.5) or 10.0 <= t < 14.5:
                continue  # blackout and dimmed light are checked elsewhere
            k = int(np.argmin(np.abs(z["t"] - t)))
            for i, pid in enumerate(z["people"]):
                j = z["joints"][k, i]
                if not np.isfinite(j).all():
                    continue
                centre = (j[L_SHOULDER] + j[R_SHOULDER] + j[L_HIP] + j[R_HIP]) / 4
                uv = cam.project(centre)
                if not cam.in_image(uv, margin=4):
                    continue
                u, v = np.round(uv).astype(int)
                z_person = cam.to_camera(centre)[2] * 1000
                if bg.depth[v, u] and bg.depth[v, u] < z_person + 150:
                    continue  # a shelf is in front of this person here
                occluded = False
                for o in range(len(z["people"])):  # someone else in front?
                    if o != i and np.isfinite(z["joints"][k, o]).all():
                        zo = cam.to_camera(z["joints"][k, o]).min(axis=0)[2] * 1000
                        uo = cam.project(z["joints"][k, o])
                        if zo < z_person and np.nanmin(np.linalg.norm(uo - uv, axis=1)) < 30:
                            occluded = True
                if occluded:
                    continue
                d = depth[t][v, u]
                assert d and d < bg.depth[v, u] - 100, (cam.id, t, pid, d, bg.depth[v, u])
                head = (j[L_EAR] + j[R_EAR]) / 2
                under_head = (np.linalg.norm(cam.project(head) - uv) < 10 and
                              cam.to_camera(head)[2] * 1000 < z_person)  # seen from straight above
                if not under_head:
                    got = colour[t][max(v - 1, 0):v + 2, max(u - 1, 0):u + 2].reshape(-1, 3).mean(0)
                    assert np.abs(got - shirts[str(pid)]).max() < 60, (cam.id, t, pid, got)
                checked += 1
                # and the head too: its centre projects onto something nearer than the store
                uvn = np.round(cam.project(head)).astype(int)
                if cam.in_image(uvn, margin=4) and bg.depth[uvn[1], uvn[0]] > cam.to_camera(head)[2] * 1000 + 300:
                    assert depth[t][uvn[1], uvn[0]] < bg.depth[uvn[1], uvn[0]] - 100, (cam.id, t, pid)
    assert checked >= 20, checked


def test_empty_store_pixels_match_the_background(corner_rec):
    rec, _ = corner_rec
    r = open_recording(rec)
    cam = r.cameras[0]
    bg = Background(r.store, r.catalog, cam)
    t, d = next(iter(read_frames(rec / "cameras" / cam.depth)))  # nobody has entered before 0.5 s
    assert t < 0.5
    known = (bg.depth > 0) & (d > 0)
    assert np.median(np.abs(d[known].astype(int) - bg.depth[known].astype(int))) < 10


def test_same_seed_same_recording(corner_rec, tmp_path):
    rec, scenario_file = corner_rec
    again = simulate(read_scenario(scenario_file), tmp_path / "again")
    for rel in ("truth/events.jsonl", "truth/receipts.json", "gates/events.jsonl", "sensors/weights.csv",
                "cameras/cameras.json"):
        assert (rec / rel).read_bytes() == (again / rel).read_bytes(), rel
    a, b = np.load(rec / "truth" / "poses.npz"), np.load(again / "truth" / "poses.npz")
    assert np.array_equal(a["joints"], b["joints"], equal_nan=True)
    for cam in ("cam-01", "cam-04"):
        fa = list(read_frames(rec / "cameras" / f"{cam}.mp4"))
        fb = list(read_frames(again / "cameras" / f"{cam}.mp4"))
        assert len(fa) == len(fb)
        assert all(ta == tb and np.array_equal(ia, ib) for (ta, ia), (tb, ib) in zip(fa, fb))


def test_random_scenarios_conform(tmp_path):
    store, catalog = load_store("corner-store")
    cams = auto_cameras(store, AutoCameras(width=320, height=240, fps=10))
    k = Knobs(seed=5, duration_s=30, people=4, parties=1, associates=1, crowding=0.8, simultaneous=0.5,
              handovers=1, faults=3, camera_width=320, camera_height=240, fps=10)
    sc = random_scenario(k, store, catalog, [c.id for c in cams])
    rec = simulate(sc, tmp_path / "rnd")
    check(rec)


def test_go_store_conforms(tmp_path):
    store, catalog = load_store("go-store")
    cams = auto_cameras(store, AutoCameras(width=320, height=240, fps=5, depth=False))
    assert len(cams) >= 12
    k = Knobs(seed=2, store="go-store", duration_s=25, people=3, parties=0, crowding=0.9, camera_width=320,
              camera_height=240, fps=5, depth=False, items=(1, 2))
    sc = random_scenario(k, store, catalog, [c.id for c in cams])
    rec = simulate(sc, tmp_path / "go")
    check(rec)
    assert len(open_recording(rec).cameras) >= 12


def test_a_failing_simulation_leaves_nothing_behind(tmp_path, tiny_store_dir):
    f = tmp_path / "bad.yaml"
    f.write_text(f"""format: walkout-scenario/1
duration_s: 20
store: {tiny_store_dir}
cameras: {{auto: {{width: 160, height: 120}}}}
people: [{{id: p1, account: a, actions: [{{do: take, bin: A-1-01, qty: 9}}]}}]
""")
    from data.errors import ScenarioError

    with pytest.raises(ScenarioError):
        simulate(read_scenario(f), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


def test_any_store_directory_and_an_explicit_cameras_json(tmp_path, tiny_store_dir):
    """A store the simulator has never seen, with cameras given by calibration: the recording keeps
    the calibration, names its own files, and conforms."""
    store, _ = load_store(str(tiny_store_dir))
    cams = auto_cameras(store, AutoCameras(width=320, height=240, fps=8))
    given = [dict(c.to_json(), video="whatever.mp4", depth=None if i else "d.mkv") for i, c in enumerate(cams)]
    for g in given:
        del g["fps"]  # 15 when absent
    (tmp_path / "cams.json").write_text(json.dumps({"cameras": given}))
    f = tmp_path / "s.yaml"
    f.write_text(f"""format: walkout-scenario/1
seed: 3
duration_s: 20
store: {tiny_store_dir}
cameras: cams.json
people:
  - {{id: p1, account: a1, enter_at: 0.5, actions: [{{do: take, bin: A-1-03}}, {{do: take, bin: B-1-01}}]}}
""")
    rec = simulate(read_scenario(f), tmp_path / "rec")
    check(rec)
    r = open_recording(rec)
    assert [c.id for c in r.cameras] == [c.id for c in cams]
    for c, orig in zip(r.cameras, cams):
        assert np.allclose(c.K, orig.K) and np.allclose(c.R, orig.R) and c.fps == 15
        assert c.video == f"{c.id}.mp4"
    assert r.cameras[0].depth == f"{cams[0].id}.depth.mkv" and all(c.depth is None for c in r.cameras[1:])
    truth = json.loads((rec / "truth" / "receipts.json").read_text())
    assert truth["visits"][0]["lines"] == [{"sku": "sku-chips", "qty": 1}, {"sku": "sku-water", "qty": 1}]
