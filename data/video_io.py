"""Camera stream files (recording.md: colour H.264/yuv420p MP4, depth FFV1/gray16le Matroska).

Frame times are the recording clock and travel as PTS. Both writers quantise
times to whole milliseconds on a 1/1000 time base, so a colour frame and its
depth frame given the same time decode to the very same time, and
irregular (dropped-frame) timing survives the round trip.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

TIME_BASE = Fraction(1, 1000)
GOP = 15  # a keyframe at least this often: seeking decodes at most GOP - 1 extra frames


def time_to_pts(t: float) -> int:
    """The PTS (ms) a frame time is stored as; decoded time = pts / 1000."""
    return int(round(float(t) * 1000.0))


class _Writer:
    """One video stream in one container; frames must come in strictly increasing time."""

    def __init__(self, path: str | Path, fmt: str, codec: str, width: int, height: int, fps: float,
                 pix_fmt: str, options: dict[str, str], threads: int) -> None:
        self.path = Path(path)
        self.width, self.height = int(width), int(height)
        self._last_pts = -1
        self.frames = 0
        self._c = av.open(str(self.path), "w", format=fmt)
        rate = Fraction(fps).limit_denominator(1001)
        s = self._c.add_stream(codec, rate=rate, options=options)
        s.width, s.height, s.pix_fmt = self.width, self.height, pix_fmt
        s.time_base = TIME_BASE
        cc = s.codec_context
        cc.time_base = TIME_BASE
        cc.framerate = rate
        cc.thread_count = max(1, int(threads))
        self._s = s

    def _pts(self, t: float) -> int:
        pts = time_to_pts(t)
        if pts <= self._last_pts:
            raise ValueError(f"{self.path.name}: frame time {t:.4f} s is not after the previous frame's "
                             f"{self._last_pts / 1000:.3f} s (times are kept to the millisecond)")
        if pts < 0:
            raise ValueError(f"{self.path.name}: frame time {t} s is negative")
        self._last_pts = pts
        return pts

    def _encode(self, frame: av.VideoFrame, t: float) -> None:
        frame.pts = self._pts(t)
        frame.time_base = TIME_BASE
        for p in self._s.encode(frame):
            self._c.mux(p)
        self.frames += 1

    def close(self) -> None:
        if self._c is None:
            return
        try:
            for p in self._s.encode(None):
                self._c.mux(p)
        finally:
            self._c.close()
            self._c = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ColourWriter(_Writer):
    """H.264 (libx264, ultrafast, no B-frames, keyframe every 15 frames) in MP4, yuv420p."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float, crf: int = 23,
                 threads: int = 1) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"yuv420p needs an even frame size, got {width}x{height}")
        opts = {"preset": "ultrafast", "crf": str(crf),
                "x264-params": f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0"}
        super().__init__(path, "mp4", "libx264", width, height, fps, "yuv420p", opts, threads)
        s = self._s
        s.codec_context.gop_size = GOP
        s.codec_context.max_b_frames = 0
        # BT.601 limited range is what cv2's I420 conversion and swscale's default both use
        s.codec_context.color_range = 1  # MPEG (limited)
        self._yuv = av.VideoFrame(self.width, self.height, "yuv420p")

    def write(self, rgb: np.ndarray, t: float) -> None:
        """Append an (H, W, 3) uint8 RGB frame shown at time t (seconds)."""
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"{self.path.name}: expected ({self.height}, {self.width}, 3) uint8, "
                             f"got {rgb.shape} {rgb.dtype}")
        i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # (H * 3/2, W): faster than swscale
        self._encode(av.VideoFrame.from_ndarray(i420, format="yuv420p"), t)


class DepthWriter(_Writer):
    """FFV1 (lossless) in Matroska, gray16le millimetres, 0 where unknown."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float, threads: int = 1) -> None:
        # level 3 with slices lets FFV1 use threads; no per-slice CRCs (the container has its own)
        opts = {"level": "3", "context": "0", "slices": "4", "slicecrc": "0"}
        super().__init__(path, "matroska", "ffv1", width, height, fps, "gray16le", opts, threads)
        self._s.codec_context.gop_size = 1  # every depth frame a keyframe: an exact seek decodes one frame

    def write(self, depth_mm: np.ndarray, t: float) -> None:
        """Append an (H, W) uint16 depth frame (mm) shown at time t (seconds)."""
        if depth_mm.shape != (self.height, self.width) or depth_mm.dtype != np.uint16:
            raise ValueError(f"{self.path.name}: expected ({self.height}, {self.width}) uint16, "
                             f"got {depth_mm.shape} {depth_mm.dtype}")
        self._encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(depth_mm), format="gray16le"), t)


def read_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """Decode a stream file: (time s, RGB (H, W, 3) uint8) for colour, (time, (H, W) uint16 mm) for depth."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        depth = s.codec_context.name == "ffv1" or "gray" in (s.codec_context.pix_fmt or "")
        for f in c.decode(s):
            img = f.to_ndarray(format="gray16le") if depth else f.to_ndarray(format="rgb24")
            yield float(f.time), img
