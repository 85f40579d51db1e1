"""engine.frames: frame times from PTS, exact seeks, depth/colour pairing by time, clear errors on bad files."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from data.errors import RecordingError
from data.recording import open_recording
from data.scenario import read_scenario
from data.simulate import simulate
from data.video_io import read_frames
from engine.frames import CameraStream, StreamReader, frame_times

SCENARIO = """
format: walkout-scenario/1
seed: 3
duration_s: 8
store: {store}
cameras:
  auto: {{width: 160, height: 120, fps: 10, depth: true}}
people:
  - id: p1
    account: acct-a
    enter_at: 0.2
    actions:
      - {{do: walk, to: [3.0, 3.0]}}
faults:
  - {{kind: camera_offset, camera: cam-02, s: 0.33}}
"""


@pytest.fixture(scope="module")
def rec_dir(tmp_path_factory, tiny_store_dir) -> Path:
    d = tmp_path_factory.mktemp("frames")
    f = d / "s.yaml"
    f.write_text(SCENARIO.format(store=tiny_store_dir))
    return simulate(read_scenario(f), d / "rec", workers=1)


@pytest.fixture(scope="module")
def rec(rec_dir):
    return open_recording(rec_dir)


@pytest.fixture(scope="module")
def decoded(rec):
    """Reference decode of cam-01 (data.video_io): times, RGB, depth."""
    cam = rec.cameras[0]
    col = list(read_frames(rec.video_path(cam)))
    dep = list(read_frames(rec.depth_path(cam)))
    return cam, col, dep


def test_frame_times_from_pts_match_decoded_times(rec, decoded):
    cam, col, dep = decoded
    a = time.perf_counter()
    tc = frame_times(rec.video_path(cam))
    td = frame_times(rec.depth_path(cam))
    assert time.perf_counter() - a < 1.0  # demuxing only
    assert np.array_equal(tc, [t for t, _ in col])
    assert np.array_equal(td, [t for t, _ in dep])
    assert np.all(np.diff(tc) > 0)


def test_iter_frames_pairs_depth_with_colour_by_time(rec, decoded):
    cam, col, dep = decoded
    cs = CameraStream(rec, cam)
    assert cs.has_depth and (cs.depth_index >= 0).all()
    frames = list(cs.iter_frames())
    assert len(frames) == len(col)
    for f, (t, rgb), (td, d) in zip(frames, col, dep):
        assert f.t == t == td
        assert f.rgb.shape == rgb.shape and f.rgb.dtype == np.uint8
        assert np.abs(f.rgb.astype(int) - rgb).max() <= 4  # cv2's vs swscale's YUV->RGB rounding
        assert f.depth.dtype == np.uint16 and np.array_equal(f.depth, d)
    # a time range is inclusive at both ends, and colour or depth can be skipped
    t0, t1 = col[5][0], col[12][0]
    part = list(cs.iter_frames(t0, t1, rgb=False))
    assert [f.t for f in part] == [t for t, _ in col[5:13]]
    assert all(f.rgb is None and f.depth is not None for f in part)
    assert all(f.depth is None for f in cs.iter_frames(t0, t1, depth=False))


def test_frame_at_is_exact_and_steps_without_seeking(rec, decoded):
    cam, col, dep = decoded
    cs = CameraStream(rec, cam)
    seq = {f.index: f for f in cs.iter_frames()}
    times = cs.times
    rng = np.random.default_rng(0)
    for t in list(rng.uniform(-1, times[-1] + 1, 25)) + [times[7], times[0], times[-1]]:
        f = cs.frame_at(float(t))
        i = int(np.argmin(np.abs(times - t)))
        assert f.index == i and f.t == times[i]
        assert np.array_equal(f.rgb, seq[i].rgb) and np.array_equal(f.depth, seq[i].depth)
    # between two frames: the nearer one
    mid = (times[10] + times[11]) / 2
    assert cs.frame_at(mid - 1e-4).index == 10 and cs.frame_at(mid + 1e-4).index == 11
    # stepping forward decodes on from where the decoder is: no seek
    cs.frame(20)
    seeks = cs._colour.seeks
    for i in range(21, 40):
        f = cs.frame(i)
        assert np.array_equal(f.rgb, seq[i].rgb)
    assert cs._colour.seeks == seeks
    # stepping back lands on the exact frame too
    for i in range(39, 30, -1):
        assert np.array_equal(cs.frame(i).rgb, seq[i].rgb)


def test_threads_decode_the_same_frames(rec, decoded):
    cam, col, _ = decoded
    a = [f.rgb for f in CameraStream(rec, cam, threads=1).iter_frames(0, 2)]
    b = [f.rgb for f in CameraStream(rec, cam, threads=2).iter_frames(0, 2)]
    assert len(a) == len(b) > 0 and all(np.array_equal(x, y) for x, y in zip(a, b))
    s1, s2 = CameraStream(rec, cam, threads=1), CameraStream(rec, cam, threads=2)
    for t in (5.0, 1.0, 6.5, 6.6, 0.3):
        f1, f2 = s1.frame_at(t), s2.frame_at(t)
        assert f1.index == f2.index and np.array_equal(f1.rgb, f2.rgb) and np.array_equal(f1.depth, f2.depth)


def test_cameras_are_addressed_by_time_not_index(rec):
    c1, c2 = CameraStream(rec, "cam-01"), CameraStream(rec, "cam-02")
    assert c2.times[0] > c1.times[0] + 0.2  # cam-02 starts late (camera_offset)
    t = 3.0
    f1, f2 = c1.frame_at(t), c2.frame_at(t)
    assert abs(f1.t - t) <= 0.06 and abs(f2.t - t) <= 0.06
    assert f1.index != f2.index


def _copy(rec_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "rec"
    shutil.copytree(rec_dir, dst)
    return dst


def test_missing_video_names_the_file(rec_dir, tmp_path):
    r = _copy(rec_dir, tmp_path)
    (r / "cameras" / "cam-01.mp4").unlink()
    with pytest.raises(RecordingError, match=r"cam-01\.mp4: missing"):
        CameraStream(open_recording(r), "cam-01")
    with pytest.raises(RecordingError, match=r"cam-01\.mp4: missing"):
        frame_times(r / "cameras" / "cam-01.mp4")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_broken_colour_video_names_the_file(rec_dir, tmp_path, damage):
    r = _copy(rec_dir, tmp_path)
    p = r / "cameras" / "cam-01.mp4"
    data = p.read_bytes()
    if damage == "truncate":
        p.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    else:
        p.write_bytes(b"")
    with pytest.raises(RecordingError, match=r"cam-01\.mp4: ") as e:
        CameraStream(open_recording(r), "cam-01")
    assert "cannot" in str(e.value) or "no frames" in str(e.value)


def test_truncated_depth_video_names_the_file(rec_dir, tmp_path):
    r = _copy(rec_dir, tmp_path)
    p = r / "cameras" / "cam-01.depth.mkv"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match=r"cam-01\.depth\.mkv: .*truncated"):
        CameraStream(open_recording(r), "cam-01")


def test_corrupt_depth_frames_name_the_file(rec_dir, tmp_path):
    r = _copy(rec_dir, tmp_path)
    p = r / "cameras" / "cam-01.depth.mkv"
    data = bytearray(p.read_bytes())
    n = len(data)
    data[n // 3: n // 3 + 20000] = np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes()
    p.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match=r"cam-01\.depth\.mkv: "):
        cs = CameraStream(open_recording(r), "cam-01")
        for _ in cs.iter_frames(rgb=False):
            pass


def test_stream_reader_rejects_wrong_size(rec):
    cam = rec.cameras[0]
    with pytest.raises(RecordingError, match=r"frame size 160x120, cameras.json says 640x480"):
        StreamReader(rec.video_path(cam), "colour", (640, 480))


def test_colour_only_camera_gives_no_depth(rec):
    from dataclasses import replace

    cam = replace(rec.cameras[0], depth=None)
    cs = CameraStream(rec, cam)
    assert not cs.has_depth
    assert cs.frame_at(2.0).depth is None
    assert all(f.depth is None and f.rgb is not None for f in cs.iter_frames(1.0, 2.0))
