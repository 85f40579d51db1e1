"""Automatic ceiling cameras: every bin seen twice, the floor covered, calibrations that round-trip."""
from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from data.camera_placement import (auto_cameras, floor_coverage, floor_views, intrinsics, segments_hit_boxes,
                                   views_of_bins)
from data.cameras import parse_cameras
from data.errors import ScenarioError
from data.presets import PRESETS, load_preset
from data.scenario import AutoCameras
from data.store import Bin, Gate, Sensor, Shelf, Store

COUNTS = {"corner-store": (4, 6), "go-store": (12, 24)}


@pytest.fixture(scope="module", params=PRESETS)
def rig(request):
    store, _ = load_preset(request.param)
    t = time.perf_counter()
    cams = auto_cameras(store, AutoCameras())
    return request.param, store, cams, time.perf_counter() - t


def test_every_bin_seen_twice(rig):
    _, store, cams, _ = rig
    views = views_of_bins(store, cams)
    assert set(views) == {b.id for b in store.bins}
    short = {b: v for b, v in views.items() if len(v) < 2}
    assert not short


def test_camera_count_and_floor(rig):
    name, store, cams, seconds = rig
    lo, hi = COUNTS[name]
    assert lo <= len(cams) <= hi
    assert floor_coverage(store, cams) >= 0.9
    pts, count = floor_views(store, cams)
    assert len(pts) == len(count) > 50
    for g in store.gates:  # people are tracked from the gate on
        inside = np.array([g.contains(p[:2]) for p in pts])
        assert (count[inside] >= 2).all(), g.id
    assert seconds < 10  # ~1 s for the go-store on a 2-core machine


def test_camera_models(rig):
    _, store, cams, _ = rig
    auto = AutoCameras()
    assert [c.id for c in cams] == [f"cam-{i:02d}" for i in range(1, len(cams) + 1)]
    x0, y0, x1, y1 = store.bounds
    for c in cams:
        assert (c.width, c.height, c.fps) == (640, 480, 15.0)
        assert c.video == f"{c.id}.mp4" and c.depth == f"{c.id}.depth.mkv"
        assert c.K[0, 2] == (c.width - 1) / 2 and c.K[1, 2] == (c.height - 1) / 2
        hfov = 2 * math.degrees(math.atan(c.width / 2 / c.K[0, 0]))
        assert 90 <= hfov <= 100
        assert c.dist[0] < 0 and np.allclose(c.dist[1:], 0)
        centre = c.center
        assert centre[2] == pytest.approx(auto.height_m)
        assert x0 < centre[0] < x1 and y0 < centre[1] < y1
        tilt = math.degrees(math.acos(-c.R[2, 2]))  # optical axis vs straight down
        assert 25 - 1e-6 <= tilt <= 40 + 1e-6
    centres = np.array([c.center[:2] for c in cams])
    d = np.linalg.norm(centres[:, None] - centres[None], axis=-1) + np.eye(len(cams)) * 99
    assert d.min() >= 1.0  # no two cameras at one spot


def test_cameras_json_round_trip(rig):
    _, _, cams, _ = rig
    text = json.dumps({"cameras": [c.to_json() for c in cams]})
    back = parse_cameras(json.loads(text))
    for a, b in zip(cams, back, strict=True):
        assert (a.id, a.video, a.depth, a.width, a.height, a.fps) == (b.id, b.video, b.depth, b.width, b.height, b.fps)
        for f in ("K", "dist", "R", "t"):
            assert np.array_equal(getattr(a, f), getattr(b, f))


def test_placement_is_deterministic_and_spacing_matters():
    store, _ = load_preset("corner-store")
    a = auto_cameras(store, AutoCameras())
    b = auto_cameras(store, AutoCameras())
    assert [c.to_json() for c in a] == [c.to_json() for c in b]
    dense = auto_cameras(store, AutoCameras(spacing_m=1.2))
    assert len(dense) > len(a)
    no_depth = auto_cameras(store, AutoCameras(depth=False, width=320, height=240, fps=10))
    assert all(c.depth is None and c.width == 320 and c.fps == 10.0 for c in no_depth)
    K, _ = intrinsics(AutoCameras(width=320, height=240))
    assert K[0, 2] == 159.5 and K[1, 2] == 119.5


def test_unseeable_bin_is_named():
    # a shelf facing a wall 0.2 m away: no ceiling camera can look into it
    store = Store(
        floor=[(0.0, 0.0), (6.0, 0.0), (6.0, 5.0), (0.0, 5.0)],
        gates=[Gate("in", "entry", ((0.1, 0.1), (1.1, 1.1))), Gate("out", "exit", ((4.9, 0.1), (5.9, 1.1)))],
        shelves=[Shelf("S1", (1.0, 4.3, 0.0), (5.0, 4.8, 1.9), (0.0, 1.0))],
        sensors=[Sensor("lc-01", "load_cell", 30.0)],
        bins=[Bin("S1-1-01", "S1", (2.0, 4.3, 0.45), (2.36, 4.8, 0.75), "lc-01", "sku-0001", 5)])
    with pytest.raises(ScenarioError, match="S1-1-01"):
        auto_cameras(store, AutoCameras())


def test_segments_hit_boxes():
    lo, hi = np.array([[0.0, 0.0, 0.0]]), np.array([[1.0, 1.0, 1.0]])
    a = np.array([[-1, .5, .5], [-1, .5, .5], [-1, 2, .5], [.5, .5, 3], [.5, .5, 3], [-1, 1, .5], [2, .5, .5]])
    b = np.array([[2, .5, .5], [-.1, .5, .5], [2, 2, .5], [.5, .5, .5], [.5, .5, 1.5], [2, 1, .5], [1.5, .5, .5]])
    assert segments_hit_boxes(a, b, lo, hi).tolist() == [True, False, False, True, False, False, False]
    assert segments_hit_boxes(a.reshape(7, 1, 3), b.reshape(7, 1, 3), lo, hi).shape == (7, 1)
