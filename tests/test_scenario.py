"""Scenario files: read as the spec writes them; malformed ones named precisely."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from data.errors import ScenarioError
from data.scenario import AutoCameras, read_scenario

SPEC_EXAMPLE = """
format: walkout-scenario/1
seed: 7
duration_s: 120
store: corner-store
cameras:
  auto: {height_m: 3.2, spacing_m: 2.5, width: 640, height: 480, fps: 15, depth: true}
sensors: {noise_g: 1.5}
people:
  - id: p1
    role: shopper
    account: acct-001
    enter_at: 2.0
    look: {shirt: [200, 40, 40], trousers: [40, 40, 60], height_m: 1.78}
    actions:
      - {do: take, bin: S1-2-03, qty: 1}
      - {do: take, bin: S2-1-01, qty: 2, at: 30.0}
      - {do: put, bin: S2-1-01, qty: 1}
      - {do: put, bin: S3-3-02, sku: sku-0007, qty: 1}
      - {do: touch, bin: S1-1-04, s: 2.0}
      - {do: hand_over, to: p2, sku: sku-0042, qty: 1}
      - {do: wait, s: 3.0}
      - {do: walk, to: [4.0, 5.5]}
      - {do: exit}
  - id: s1
    role: associate
    account: staff-01
    enter_at: 10.0
    actions:
      - {do: restock, bin: S1-2-03, qty: 6}
faults:
  - {kind: camera_blackout, camera: cam-02, from: 30.0, to: 38.0}
  - {kind: camera_offset, camera: cam-03, s: 0.4}
  - {kind: sensor_spike, sensor: lc-04, at: 41.0, grams: 350, s: 0.3}
  - {kind: sensor_drift, sensor: lc-09, g_per_min: 2.0}
  - {kind: sensor_dropout, sensor: lc-02, from: 50.0, to: 55.0}
  - {kind: lighting, from: 60.0, to: 90.0, gain: 0.6}
"""


def test_the_spec_example_reads(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(SPEC_EXAMPLE)
    sc = read_scenario(f)
    assert sc.seed == 7 and sc.duration_s == 120 and sc.store == "corner-store" and not sc.store_is_dir
    assert isinstance(sc.cameras, AutoCameras) and sc.cameras.depth
    p1 = sc.people[0]
    assert [a.do for a in p1.actions] == ["take", "take", "put", "put", "touch", "hand_over", "wait", "walk", "exit"]
    assert p1.actions[1].at == 30.0 and p1.actions[7].to == (4.0, 5.5)
    assert p1.look.shirt == (200, 40, 40) and p1.look.height_m == 1.78
    assert [f.kind for f in sc.faults] == ["camera_blackout", "camera_offset", "sensor_spike", "sensor_drift",
                                          "sensor_dropout", "lighting"]
    # written back out, it reads the same
    g = tmp_path / "again.yaml"
    g.write_text(yaml.safe_dump(sc.to_json()))
    again = read_scenario(g)
    assert again.to_json() == sc.to_json()


def test_store_directories_resolve_against_the_scenario_file(tmp_path):
    (tmp_path / "sub").mkdir()
    f = tmp_path / "sub" / "s.json"
    f.write_text('{"format": "walkout-scenario/1", "duration_s": 10, "store": "../my-store", "cameras": "cams.json"}')
    sc = read_scenario(f)
    assert sc.store_is_dir and Path(sc.store) == (tmp_path / "my-store").resolve()
    assert sc.cameras == (tmp_path / "sub" / "cams.json").resolve()


@pytest.mark.parametrize("text, words", [
    ("format: walkout-scenario/2\nduration_s: 5", ["'format' must be"]),
    ("format: walkout-scenario/1", ["duration_s"]),
    ("format: walkout-scenario/1\nduration_s: 5\npeople: [{id: p1, account: a, actions: [{do: fly}]}]",
     ["person p1, action 1", "unknown action 'fly'"]),
    ("format: walkout-scenario/1\nduration_s: 5\npeople: [{id: p1, account: a, actions: [{do: take}]}]",
     ["person p1, action 1", "take needs a 'bin'"]),
    ("format: walkout-scenario/1\nduration_s: 5\npeople: [{id: p1, account: a, actions: [{do: take, bin: b, qty: 0}]}]",
     ["'qty' must be an integer >= 1"]),
    ("format: walkout-scenario/1\nduration_s: 5\npeople: [{id: p1, account: a}, {id: p1, account: b}]",
     ["person p1", "duplicate"]),
    ("format: walkout-scenario/1\nduration_s: 5\npeople: [{id: p1, role: boss, account: a}]", ["'role' must be"]),
    ("format: walkout-scenario/1\nduration_s: 5\nfaults: [{kind: sensor_spike, sensor: lc-1}]",
     ["faults[0]", "needs 'at'"]),
    ("format: walkout-scenario/1\nduration_s: 5\nfaults: [{kind: camera_blackout, camera: c, from: 4, to: 2}]",
     ["'to' (2.0) must be after 'from' (4.0)"]),
    ("format: walkout-scenario/1\nduration_s: [5", ["not valid YAML"]),
    ("format: walkout-scenario/1\nduration_s: 5\ncameras: {auto: {width: 641}}", ["even integers"]),
])
def test_malformed_scenarios_name_the_problem(tmp_path, text, words):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ScenarioError) as e:
        read_scenario(f)
    for w in words:
        assert w in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="no such file"):
        read_scenario(tmp_path / "nope.yaml")
