"""Reading one camera's streams, fast and exactly (recording.md: cameras/).

Frame times come from packet PTS x time_base (the recording's clock); cameras are
not frame-locked, so everything here is addressed by *time*, never by a frame
number shared between cameras.

- `frame_times(path)`: a stream's frame times by demuxing only (no decoding).
- `CameraStream(rec, cam)`: a camera's colour stream and its optional depth stream.
  `times` are the colour frame times; `iter_frames(t0, t1)` decodes forward and
  pairs each colour frame with the depth frame of the same time (within 1 ms);
  `frame_at(t)` returns the frame nearest to t with an exact seek (to the
  keyframe before it, then decoding forward), and keeps its decoder position so
  that stepping forward never seeks again.

Every problem with a file (missing, truncated, not a video, undecodable, wrong
size or pixel format) raises `data.errors.RecordingError` naming the file and
what is wrong; no bare `av` exception leaves this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from data.cameras import Camera
from data.errors import RecordingError
from data.recording import Recording

PAIR_TOL_S = 1e-3  # a depth frame belongs to the colour frame of the same time, to the millisecond
_HALF_MS = 5e-4


@dataclass
class Frame:
    """One camera frame: colour (and depth) at time t on the recording's clock.

    Arrays from `CameraStream.frame_at`/`frame` are read-only (they are cached); copy to draw.
    """
    t: float
    rgb: np.ndarray | None  # (H, W, 3) uint8 RGB; None when not asked for
    depth: np.ndarray | None  # (H, W) uint16 mm along the camera's z axis, 0 unknown; None: no depth
    index: int = -1  # index of the colour frame in its stream (this camera only: never compare across cameras)


def _fail(path: Path, what: str) -> RecordingError:
    return RecordingError(f"{path}: {what}")


def _open(path: Path) -> av.container.InputContainer:
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "missing" if not path.exists() else "not a file")
    try:
        c = av.open(str(path))
    except av.error.FFmpegError as e:
        raise _fail(path, f"cannot be opened as a video (truncated or not a video file?): {_msg(e)}") from None
    except OSError as e:
        raise _fail(path, f"cannot be read: {e}") from None
    if not c.streams.video:
        c.close()
        raise _fail(path, "has no video stream")
    return c


def _msg(e: BaseException) -> str:
    s = getattr(e, "strerror", None) or str(e)
    return str(s)


def _scan(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(frame times sorted, keyframe flags) of a stream's packets, by demuxing only."""
    c = _open(path)
    try:
        s = c.streams.video[0]
        tb = s.time_base
        if tb is None:
            raise _fail(path, "video stream has no time base")
        pts: list[int] = []
        key: list[bool] = []
        try:
            for p in c.demux(s):
                if p.pts is None:
                    if p.size:  # a packet with data but no time: cannot place it on the clock
                        raise _fail(path, f"packet {len(pts)} has no PTS (frame times come from PTS)")
                    continue
                pts.append(int(p.pts))
                key.append(bool(p.is_keyframe))
        except av.error.FFmpegError as e:
            raise _fail(path, f"cannot be demuxed after {len(pts)} packets (corrupt or truncated?): "
                              f"{_msg(e)}") from None
    finally:
        c.close()
    if not pts:
        raise _fail(path, "has no frames")
    p = np.asarray(pts, np.int64)
    order = np.argsort(p, kind="stable")  # presentation order (packets come in decode order)
    p, k = p[order], np.asarray(key, bool)[order]
    if np.any(np.diff(p) == 0):
        i = int(np.argmax(np.diff(p) == 0)) + 1
        raise _fail(path, f"two frames share the time {float(p[i] * tb):.3f} s")
    # pts * num / den: correctly rounded, so a time written as 0.029 s reads back as the float 0.029
    return p.astype(np.float64) * tb.numerator / tb.denominator, k


def frame_times(path: str | Path) -> np.ndarray:
    """Frame times (s, increasing) of a video file's first video stream, from packet PTS (no decoding)."""
    return _scan(Path(path))[0]


class StreamReader:
    """One stream file decoded on demand: exact frames by index, sequential or with seeks.

    `kind` is "colour" (-> RGB uint8) or "depth" (-> uint16 mm). The decoder position is
    kept: asking for a later frame before the next keyframe decodes forward, without a seek.
    """

    def __init__(self, path: str | Path, kind: str, size: tuple[int, int] | None = None, threads: int = 1) -> None:
        if kind not in ("colour", "depth"):
            raise ValueError(f"kind must be 'colour' or 'depth', got {kind!r}")
        self.path = Path(path)
        self.kind = kind
        self.threads = max(1, int(threads))
        self.times, self._key = _scan(self.path)
        self._keyidx = np.flatnonzero(self._key)
        if not len(self._keyidx) or self._keyidx[0] != 0:
            self._keyidx = np.concatenate([[0], self._keyidx])  # decoding from the start always works
        self._c = _open(self.path)
        self._s = self._c.streams.video[0]
        cc = self._s.codec_context
        w, h = cc.width, cc.height
        if size is not None and (w, h) != tuple(size):
            self.close()
            raise _fail(self.path, f"frame size {w}x{h}, cameras.json says {size[0]}x{size[1]}")
        if kind == "depth" and cc.pix_fmt not in (None, "gray16le", "gray16be", "gray16"):
            self.close()
            raise _fail(self.path, f"depth pixel format {cc.pix_fmt}, expected gray16le")
        self.size = (w, h)
        cc.thread_count = self.threads
        cc.thread_type = "AUTO" if self.threads > 1 else "SLICE"
        self._tb = float(self._s.time_base)
        self._gen: Iterator[av.VideoFrame] | None = None
        self._pos = -1  # index of the frame the decoder gave last (-1: none since the last seek)
        self._cache: tuple[int, np.ndarray] | None = None
        self.seeks = 0  # how many times get() had to seek (for tests and benchmarks)

    # -- low level --------------------------------------------------------------------------
    def close(self) -> None:
        if getattr(self, "_c", None) is not None:
            self._c.close()
            self._c = None
            self._gen = None

    def __enter__(self) -> StreamReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # noqa: D105
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def __len__(self) -> int:
        return len(self.times)

    def convert(self, f: av.VideoFrame) -> np.ndarray:
        if self.kind == "depth":
            img = f.to_ndarray(format="gray16le") if f.format.name != "gray16le" else f.to_ndarray()
            return img
        if f.format.name == "yuv420p" and f.planes[0].line_size == f.width and f.width % 2 == 0 \
                and f.height % 2 == 0 and f.planes[1].line_size == f.width // 2:
            # cv2's BT.601 limited-range I420 conversion: 3x faster than swscale, and the inverse of
            # what the simulator's writer used
            return cv2.cvtColor(f.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
        return f.to_ndarray(format="rgb24")

    def _next(self) -> av.VideoFrame | None:
        if self._gen is None:
            self._gen = self._c.decode(self._s)
        try:
            return next(self._gen)
        except StopIteration:
            return None
        except av.error.FFmpegError as e:
            self._gen = None
            after = f"after {self.times[self._pos]:.3f} s" if self._pos >= 0 else "at the start"
            raise _fail(self.path, f"cannot decode the frame {after} (corrupt or truncated?): {_msg(e)}") from None

    def _index_of(self, f: av.VideoFrame) -> int:
        if f.pts is None:
            raise _fail(self.path, "decoded a frame without a time")
        t = f.pts * self._s.time_base.numerator / self._s.time_base.denominator
        i = int(np.searchsorted(self.times, t - _HALF_MS))
        if i >= len(self.times) or abs(self.times[i] - t) > _HALF_MS:
            raise _fail(self.path, f"decoded a frame at {t:.4f} s that its packets do not list")
        return i

    def _key_before(self, i: int) -> int:
        """Index of the keyframe at or before frame i."""
        return int(self._keyidx[np.searchsorted(self._keyidx, i, side="right") - 1])

    def _seek(self, k: int) -> None:
        """Seek so that decoding restarts at keyframe index k (or earlier)."""
        pts = int(round(self.times[k] / self._tb))
        try:
            self._c.seek(pts if k > 0 else 0, stream=self._s, backward=True, any_frame=False)
        except av.error.FFmpegError as e:
            raise _fail(self.path, f"cannot seek to {self.times[k]:.3f} s: {_msg(e)}") from None
        self._gen = None
        self._pos = -1
        self.seeks += 1

    # -- frames -----------------------------------------------------------------------------
    def iter_from(self, start: int = 0) -> Iterator[tuple[int, av.VideoFrame]]:
        """(index, av frame) from frame `start` on, decoding forward (sharing this reader's position)."""
        i = start
        while i < len(self.times):
            f = self._decode_to(i)
            yield i, f
            i = self._pos + 1

    def _decode_to(self, target: int) -> av.VideoFrame:
        """Decode up to frame `target` and return it; seeks only when decoding forward is not cheaper."""
        if not 0 <= target < len(self.times):
            raise IndexError(target)
        k = self._key_before(target)
        if not self._pos < target or self._pos < k - 1:
            self._seek(k)
        while True:
            f = self._next()
            if f is None:
                raise _fail(self.path, f"stream ends before the frame at {self.times[target]:.3f} s "
                                       f"(its packets list {len(self.times)} frames; truncated?)")
            i = self._index_of(f)
            self._pos = i
            if i == target:
                return f
            if i > target:  # the demuxer's seek landed after the target: restart from an earlier keyframe
                if k == 0:
                    raise _fail(self.path, f"cannot seek to the frame at {self.times[target]:.3f} s "
                                           f"(decoding from the start gives {self.times[i]:.3f} s first)")
                k = self._key_before(k - 1)
                self._seek(k)

    def get(self, i: int) -> np.ndarray:
        """The decoded frame number i (RGB or depth mm), exact."""
        if self._cache is not None and self._cache[0] == i:
            return self._cache[1]
        img = self.convert(self._decode_to(i))
        img.flags.writeable = False  # it is cached: whoever wants to draw on it draws on a copy
        self._cache = (i, img)
        return img

    def index_near(self, t: float) -> int:
        """Index of the frame nearest to time t (the earlier one on a tie)."""
        n = len(self.times)
        i = int(np.searchsorted(self.times, t))
        if i >= n:
            return n - 1
        if i > 0 and t - self.times[i - 1] <= self.times[i] - t:
            return i - 1
        return i


class CameraStream:
    """One camera's colour stream and its optional depth stream, addressed by time.

    `times`: colour frame times. `depth_index[i]`: index of the depth frame paired with colour
    frame i (-1: none). Decoders are opened lazily; `frame_at` and `iter_frames` use separate
    decoders, so scrubbing never disturbs a sequential pass and vice versa.
    """

    def __init__(self, rec: Recording, cam: Camera | str, threads: int = 1) -> None:
        self.rec = rec
        self.camera = rec.camera(cam) if isinstance(cam, str) else cam
        self.threads = threads
        vp = rec.video_path(self.camera)
        if vp is None:
            raise RecordingError(f"camera {self.camera.id}: has no colour video (keypoints only)")
        self.video_path: Path = vp
        self.depth_path: Path | None = rec.depth_path(self.camera)
        self._size = (self.camera.width, self.camera.height)
        self._colour = StreamReader(self.video_path, "colour", self._size, threads)  # for frame_at
        self.times = self._colour.times
        self._depth: StreamReader | None = None
        self.depth_index = np.full(len(self.times), -1, np.int64)
        if self.depth_path is not None:
            self._depth = StreamReader(self.depth_path, "depth", self._size, threads)
            dt = self._depth.times
            j = np.clip(np.searchsorted(dt, self.times - PAIR_TOL_S), 0, len(dt) - 1)
            ok = np.abs(dt[j] - self.times) <= PAIR_TOL_S
            self.depth_index = np.where(ok, j, -1)
            if dt[-1] < self.times[-1] - 0.5:
                raise RecordingError(f"{self.depth_path}: ends at {dt[-1]:.3f} s but its colour video "
                                     f"{self.video_path.name} goes on to {self.times[-1]:.3f} s (truncated?)")
            if self.times[-1] < dt[-1] - 0.5:
                raise RecordingError(f"{self.video_path}: ends at {self.times[-1]:.3f} s but its depth video "
                                     f"{self.depth_path.name} goes on to {dt[-1]:.3f} s (truncated?)")
            if not ok.any():
                raise RecordingError(f"{self.depth_path}: no depth frame has the time of a colour frame of "
                                     f"{self.video_path.name} (expected equal times, to the millisecond)")

    @property
    def id(self) -> str:
        return self.camera.id

    @property
    def has_depth(self) -> bool:
        return self._depth is not None

    def close(self) -> None:
        self._colour.close()
        if self._depth is not None:
            self._depth.close()

    def __enter__(self) -> CameraStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def index_near(self, t: float) -> int:
        return self._colour.index_near(t)

    def frame_at(self, t: float, rgb: bool = True, depth: bool = True) -> Frame:
        """The frame nearest to time t, decoded exactly (seek to the keyframe before, decode forward)."""
        i = self.index_near(t)
        return self.frame(i, rgb, depth)

    def frame(self, i: int, rgb: bool = True, depth: bool = True) -> Frame:
        """Colour frame number i of this camera (with its depth)."""
        img = self._colour.get(i) if rgb else None
        d = None
        if depth and self._depth is not None and self.depth_index[i] >= 0:
            d = self._depth.get(int(self.depth_index[i]))
        return Frame(float(self.times[i]), img, d, i)

    def iter_frames(self, t0: float | None = None, t1: float | None = None, rgb: bool = True,
                    depth: bool = True) -> Iterator[Frame]:
        """Frames with t0 <= t <= t1, in order, decoded sequentially (fresh decoders: no shared state).

        rgb=False skips colour decoding (times still come from the colour stream; the depth-only
        detector needs no colour); depth=False skips the depth stream.
        """
        lo = 0 if t0 is None else int(np.searchsorted(self.times, t0 - 1e-6))
        hi = len(self.times) if t1 is None else int(np.searchsorted(self.times, t1 + 1e-6, "right"))
        if lo >= hi:
            return
        col = StreamReader(self.video_path, "colour", self._size, self.threads) if rgb else None
        dep = None
        if depth and self._depth is not None:
            dep = StreamReader(self.depth_path, "depth", self._size, self.threads)
        try:
            cit = col.iter_from(lo) if col is not None else None
            dj = self.depth_index[lo:hi]
            have = dj[dj >= 0]
            dit = dep.iter_from(int(have[0])) if dep is not None and len(have) else None
            dcur: tuple[int, av.VideoFrame] | None = None
            for i in range(lo, hi):
                img = None
                if cit is not None:
                    ci, f = next(cit)
                    if ci != i:
                        raise _fail(self.video_path, f"decoded frame {ci} where frame {i} was expected")
                    img = col.convert(f)
                d = None
                want = int(self.depth_index[i])
                if dit is not None and want >= 0:
                    while dcur is None or dcur[0] < want:
                        dcur = next(dit)
                    if dcur[0] == want:
                        d = dep.convert(dcur[1])
                yield Frame(float(self.times[i]), img, d, i)
        finally:
            if col is not None:
                col.close()
            if dep is not None:
                dep.close()
