"""Camera stream files: codecs, pixel formats, keyframes and exact frame times (recording.md)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import av
import numpy as np
import pytest

from data.video_io import GOP, ColourWriter, DepthWriter, read_frames

W, H = 160, 120
CHECKER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "check_recording.py"  # beside the repo


def irregular_times(n: int, seed: int = 0, start: float = 0.37) -> np.ndarray:
    """Frame times of an unlocked camera that drops frames: not on any grid, gaps up to 3 frames."""
    rng = np.random.default_rng(seed)
    steps = rng.uniform(0.9, 1.1, n) / 15 * rng.choice([1, 1, 1, 2, 3], n)
    return start + np.cumsum(steps) + rng.uniform(0, 1e-4, n)


def colour_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        f = np.full((H, W, 3), (200, 190, 180), np.uint8)
        x = (7 * i) % (W - 30)
        f[40:80, x:x + 30] = (30, 60, 200)
        out.append(np.clip(f + rng.normal(0, 2, f.shape), 0, 255).astype(np.uint8))
    return out


def depth_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    out = []
    for i in range(n):
        d = (3000 + 3 * yy + xx + rng.integers(0, 4, (H, W))).astype(np.uint16)
        d[40:80, (5 * i) % 100:(5 * i) % 100 + 30] = 1500
        d[:5, :5] = 0
        out.append(d)
    return out


@pytest.fixture(scope="module")
def streams(tmp_path_factory):
    """One colour and one depth stream written with the same irregular frame times."""
    tmp = tmp_path_factory.mktemp("video")
    times = irregular_times(40)
    cols, deps = colour_frames(40), depth_frames(40)
    with ColourWriter(tmp / "c.mp4", W, H, 15) as cw, DepthWriter(tmp / "c.depth.mkv", W, H, 15) as dw:
        for t, c, d in zip(times, cols, deps):
            cw.write(c, t)
            dw.write(d, t)
    return tmp / "c.mp4", tmp / "c.depth.mkv", times, cols, deps


def test_frame_times_come_back(streams):
    video, depth, times, _, _ = streams
    tc = np.array([t for t, _ in read_frames(video)])
    td = np.array([t for t, _ in read_frames(depth)])
    assert len(tc) == len(td) == len(times)
    assert np.abs(tc - times).max() <= 1e-3
    assert np.abs(td - times).max() <= 1e-3
    assert np.abs(tc - td).max() <= 1e-6  # same quantisation: colour and depth agree exactly
    assert tc[0] > 0.37  # a camera that starts late keeps its start time (no shift to 0)


def test_codecs_formats_and_keyframes(streams):
    video, depth, *_ = streams
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        assert c.format.name.startswith("mov") or "mp4" in c.format.name
        assert s.codec_context.name == "h264"
        assert s.codec_context.pix_fmt == "yuv420p"
        keys = [p.is_keyframe for p in c.demux(s) if p.size]
        assert s.codec_context.has_b_frames == 0
    idx = np.flatnonzero(keys)
    assert idx[0] == 0 and np.diff(np.r_[idx, len(keys)]).max() <= GOP
    with av.open(str(depth)) as c:
        s = c.streams.video[0]
        assert "matroska" in c.format.name
        assert s.codec_context.name == "ffv1"
        assert s.codec_context.pix_fmt == "gray16le"


def test_depth_is_lossless_and_colour_close(streams):
    video, depth, _, cols, deps = streams
    for (_, got), want in zip(read_frames(depth), deps):
        assert got.dtype == np.uint16 and np.array_equal(got, want)
    errs = [np.abs(got.astype(int) - want).mean() for (_, got), want in zip(read_frames(video), cols)]
    assert max(errs) < 4.0


def test_decodes_like_check_recording(streams):
    """What check_recording.py's check_video does: first-frame size and format, times strictly increasing."""
    video, depth, times, *_ = streams
    for path, codec, pix in ((video, "h264", "yuv420p"), (depth, "ffv1", "gray16le")):
        got = []
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            assert s.codec_context.name == codec
            for i, f in enumerate(c.decode(s)):
                if i == 0:
                    assert (f.width, f.height) == (W, H) and f.format.name == pix
                assert f.time is not None
                got.append(float(f.time))
        assert np.all(np.diff(got) > 0) and got[0] >= 0


@pytest.mark.skipif(not CHECKER.exists(), reason="shared conformance checker not present")
def test_shared_checker_accepts_streams(streams):
    video, depth, times, *_ = streams
    spec = importlib.util.spec_from_file_location("check_recording", CHECKER)
    chk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chk)
    chk.problems.clear()
    tc = chk.check_video("video", video, "h264", "yuv420p", (W, H), float(times[-1]) + 1, 0)
    td = chk.check_video("depth", depth, "ffv1", "gray16le", (W, H), float(times[-1]) + 1, 0)
    assert chk.problems == []
    assert np.max(np.abs(tc - td)) <= 1e-3


def test_rejects_times_that_do_not_increase(tmp_path):
    with ColourWriter(tmp_path / "a.mp4", W, H, 15) as w:
        w.write(np.zeros((H, W, 3), np.uint8), 1.0)
        with pytest.raises(ValueError, match="not after"):
            w.write(np.zeros((H, W, 3), np.uint8), 1.0002)  # same millisecond
    with DepthWriter(tmp_path / "a.mkv", W, H, 15) as w:
        w.write(np.zeros((H, W), np.uint16), 1.0)
        with pytest.raises(ValueError, match="not after"):
            w.write(np.zeros((H, W), np.uint16), 0.5)


def test_rejects_wrong_frame_shapes(tmp_path):
    with ColourWriter(tmp_path / "a.mp4", W, H, 15) as w:
        with pytest.raises(ValueError):
            w.write(np.zeros((H, W), np.uint8), 0.0)
    with DepthWriter(tmp_path / "a.mkv", W, H, 15) as w:
        with pytest.raises(ValueError):
            w.write(np.zeros((H, W), np.float32), 0.0)
    with pytest.raises(ValueError, match="even"):
        ColourWriter(tmp_path / "b.mp4", 161, 120, 15)
