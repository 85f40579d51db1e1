"""One camera's frames decoded off the UI thread: newest request wins, a cache around the cursor.

Each `CameraDecoder` owns a worker thread and an exact `engine.frames.StreamReader` (seek to the
keyframe before, decode forward: with keyframes every 15 frames an exact seek costs ~20 ms). The UI
asks `request(t)`: a cached frame comes back at once; otherwise the worker is told the newest wish
(older wishes are dropped) and `ready` is emitted when the frame lands. While idle the worker fills the
cache ahead of the cursor (playback never waits) and a few frames behind it (stepping back is instant).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from data.errors import RecordingError
from engine.frames import StreamReader


@dataclass
class DecodedFrame:
    """A decoded colour frame; `image` wraps `rgb` without copying (both stay alive together)."""
    index: int
    t: float
    rgb: np.ndarray
    image: QImage
    decode_ms: float = 0.0


class DecoderSignals(QObject):
    ready = Signal(str, int)  # camera id, frame index now in the cache
    failed = Signal(str, str)  # camera id, message naming the file and what is wrong
    opened = Signal(str)


class CameraDecoder:
    """Decode one camera's colour stream in a worker thread, addressed by time."""

    def __init__(self, cam_id: str, path: Path | None, size: tuple[int, int], fps: float,
                 cache_frames: int = 40, ahead: int = 12, behind: int = 6, parent: QObject | None = None) -> None:
        self.cam_id = cam_id
        self.path = path
        self.size = size
        self.fps = fps
        self.cache_frames = cache_frames
        self.ahead, self.behind = ahead, behind
        # parented to the widget it feeds: the signals live exactly as long as their receiver in Qt, not until
        # Python happens to collect this decoder (a queued frame signal whose source is gone raises in the UI)
        self.signals = DecoderSignals(parent)
        self.times: np.ndarray | None = None
        self.error: str | None = None
        self._cache: dict[int, DecodedFrame] = {}
        self._lock = threading.Condition()
        self._want: int | None = None  # the newest wish (frame index)
        self._centre: int = 0  # the cursor's frame: the cache is kept around it
        self._stop = False
        self._reader: StreamReader | None = None
        self._raw: dict[int, object] = {}  # av frames decoded on the way to a seek's target, not yet RGB
        self.decoded = 0  # frames decoded (for benchmarks)
        self._thread = threading.Thread(target=self._run, name=f"decode-{cam_id}", daemon=True)
        self._thread.start()

    # -- UI side ----------------------------------------------------------------------------------
    def index_near(self, t: float) -> int | None:
        """The frame nearest t, or None when the camera has no frame near t (before its start, after its end,
        or in a gap of more than 1.5 frame periods)."""
        ts = self.times
        if ts is None or not len(ts):
            return None
        i = int(np.searchsorted(ts, t))
        if i >= len(ts):
            i = len(ts) - 1
        elif i > 0 and t - ts[i - 1] <= ts[i] - t:
            i -= 1
        return i if abs(ts[i] - t) <= 1.5 / self.fps else None

    def request(self, t: float) -> DecodedFrame | None:
        """The frame nearest t if cached; otherwise None, and the worker decodes it next (newest wins)."""
        i = self.index_near(t)
        if i is None:
            return None
        return self.request_index(i)

    def request_index(self, i: int) -> DecodedFrame | None:
        with self._lock:
            self._centre = i
            f = self._cache.get(i)
            if f is None:
                self._want = i
            self._lock.notify()
            return f

    def cached(self, i: int) -> DecodedFrame | None:
        with self._lock:
            return self._cache.get(i)

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """Block until the stream is opened (or failed); for scripts and benchmarks."""
        end = time.monotonic() + timeout
        while self.times is None and self.error is None and time.monotonic() < end:
            time.sleep(0.002)
        return self.times is not None

    def close(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify()
        self._thread.join(timeout=2.0)

    # -- worker side ------------------------------------------------------------------------------
    def _emit(self, signal, *args) -> None:
        """Tell the UI, unless it is closing: after close() nobody listens, and the widgets may be gone."""
        if not self._stop:
            signal.emit(*args)

    def _fail(self, msg: str) -> None:
        self.error = msg
        self._emit(self.signals.failed, self.cam_id, msg)

    def _run(self) -> None:
        if self.path is None:
            self._fail(f"camera {self.cam_id}: no colour video in this recording")
            return
        try:
            self._reader = StreamReader(self.path, "colour", self.size)
            self.times = self._reader.times
        except RecordingError as e:
            self._fail(str(e))
            return
        self._emit(self.signals.opened, self.cam_id)
        try:
            while True:
                with self._lock:
                    while not self._stop and self._want is None and self._prefetch_target() is None:
                        self._lock.wait(0.25)
                    if self._stop:
                        return
                    target, urgent = (self._want, True) if self._want is not None else (self._prefetch_target(), False)
                    self._want = None
                if target is None:
                    continue
                if urgent:
                    self._seek_to(target)
                elif target in self._raw:
                    self._store(target, self._reader.convert(self._raw.pop(target)))
                elif target < self._centre:
                    self._fill_behind(target)
                else:
                    self._store(target, self._reader.get(target))
        except RecordingError as e:
            self._fail(str(e))
        finally:
            if self._reader is not None:
                self._reader.close()

    def _prefetch_target(self) -> int | None:
        """Idle work, nearest the cursor first (called under the lock): frames already decoded on the way to a
        seek's target (conversion only), then ahead of the cursor (decoding forward), then behind it."""
        if self.times is None:
            return None
        n = len(self.times)
        c = self._centre
        for j in sorted(self._raw, key=lambda j: abs(j - c)):
            if j in self._cache or abs(j - c) > self.behind:
                del self._raw[j]
            else:
                return j
        for j in range(c, min(n, c + self.ahead + 1)):
            if j not in self._cache:
                return j
        for j in range(max(0, c - self.behind), c):  # the lowest first: one seek, then decoding forward
            if j not in self._cache:
                return j
        return None

    def _seek_to(self, i: int) -> None:
        """The frame asked for, decoded exactly; the frames decoded on the way (from the keyframe before it) are
        kept undecoded-to-RGB for stepping back, converted later when idle."""
        r = self._reader
        k = r._key_before(i)
        if r._pos < i and r._pos >= k - 1:  # decoding forward reaches it without a seek
            self._store(i, r.get(i))
            return
        for j, f in r.iter_from(k):
            if j == i:
                self._store(i, r.convert(f))
                return
            if j >= i - self.behind and j not in self._cache:
                self._raw[j] = f

    def _fill_behind(self, lo: int) -> None:
        """Decode from frame lo up to the cursor, one frame at a time, giving way at once to a new request."""
        r = self._reader
        c = self._centre
        for j, f in r.iter_from(lo):
            if j >= c or self._want is not None or self._stop:
                return
            if j not in self._cache:
                self._store(j, r.convert(f))

    def _store(self, i: int, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        # the QImage owns a copy: a QImage over numpy memory outlives it unsafely once the cache drops it
        img = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        f = DecodedFrame(i, float(self.times[i]), rgb, img, 0.0)
        with self._lock:
            self._cache[i] = f
            self.decoded += 1
            if len(self._cache) > self.cache_frames:
                c = self._centre
                # drop the frames farthest from the cursor (those behind count double: we play forward)
                far = sorted(self._cache, key=lambda j: -(abs(j - c) * (2 if j < c else 1)))
                for j in far[:len(self._cache) - self.cache_frames]:
                    del self._cache[j]
        self._emit(self.signals.ready, self.cam_id, i)
