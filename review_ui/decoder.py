"""One camera's frames decoded off the UI thread: newest request wins, a cache around the cursor.

Each `CameraDecoder` owns a worker thread and an exact `engine.frames.StreamReader` (seek to the
keyframe before, decode forward: with keyframes every 15 frames an exact seek costs ~20 ms). The UI
asks `request(t)`: a cached frame comes back at once; otherwise the worker is told the newest wish
(older wishes are dropped) and `ready` is emitted when the frame lands. While idle the worker fills the
cache ahead of the cursor (playback never waits) and a group of pictures behind it (stepping back is instant).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from data.errors import RecordingError
from engine.frames import StreamReader


@dataclass
class DecodedFrame:
    """A decoded colour frame, held as a 32-bit QImage: the raster engine draws that format 5-8x faster
    than 24-bit RGB, which it would convert on every paint. `bgra` is a view of its pixels."""
    index: int
    t: float
    bgra: np.ndarray
    image: QImage
    decode_ms: float = 0.0

    @property
    def rgb(self) -> np.ndarray:
        """The pixels as (H, W, 3) RGB (a copy; for checks, not for painting)."""
        return cv2.cvtColor(self.bgra, cv2.COLOR_BGRA2RGB)


class DecoderSignals(QObject):
    ready = Signal(str, int)  # camera id, frame index now in the cache
    failed = Signal(str, str)  # camera id, message naming the file and what is wrong
    opened = Signal(str)


class PrefetchGate:
    """Paces the cameras' idle prefetch so that it never competes with what the reviewer waits for.

    On 2 cores, six threads decoding ahead take the CPU and the GIL from a seek's own decodes and from
    the UI thread painting them (each of the painter's many calls gives the GIL up and waits to get it
    back). So prefetch runs in one camera at a time (a slot passed between them), and not at all while
    the grid holds the gate: from a seek or a step until every tile has painted its new frame. A hold
    also lapses by itself, so a tile that never paints cannot stop prefetch for good.
    """

    def __init__(self, lapse_s: float = 0.4) -> None:
        self.lapse_s = lapse_s
        self._until = 0.0
        self._slot = threading.Lock()
        self._decoders: list[CameraDecoder] = []

    def hold(self) -> None:
        self._until = time.monotonic() + self.lapse_s

    def release(self) -> None:
        if self._until:
            self._until = 0.0
            self._wake_all()

    def wait_s(self) -> float:
        """0 when prefetch may run, else how long the hold still lasts."""
        return max(0.0, self._until - time.monotonic()) if self._until else 0.0

    def take(self) -> bool:
        """The prefetch slot, if free (never blocks: a decoder must stay free to serve a request)."""
        return self._slot.acquire(blocking=False)

    def give(self) -> None:
        self._slot.release()
        self._wake_all()

    def add(self, d: CameraDecoder) -> None:
        self._decoders.append(d)

    def remove(self, d: CameraDecoder) -> None:
        if d in self._decoders:
            self._decoders.remove(d)

    def _wake_all(self) -> None:
        for d in list(self._decoders):  # a copy: the UI thread may remove a closing decoder meanwhile
            d.wake()


class CameraDecoder:
    """Decode one camera's colour stream in a worker thread, addressed by time."""

    def __init__(self, cam_id: str, path: Path | None, size: tuple[int, int], fps: float,
                 cache_frames: int = 34, ahead: int = 12, behind: int = 15, parent: QObject | None = None,
                 gate: PrefetchGate | None = None) -> None:
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
        self.gate = gate or PrefetchGate()
        self.gate.add(self)
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

    def wake(self) -> None:
        with self._lock:
            self._lock.notify()

    def close(self) -> None:
        with self._lock:
            self._stop = True
            self._lock.notify()
        self._thread.join(timeout=2.0)
        self.gate.remove(self)

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
                    slot = False
                    while not self._stop and self._want is None:
                        held = self.gate.wait_s()
                        if not held and self._prefetch_target() is not None and self.gate.take():
                            slot = True
                            break
                        self._lock.wait(min(0.25, held) if held else 0.25)
                    if self._stop:
                        if slot:
                            self.gate.give()
                        return
                    target, urgent = (self._want, True) if self._want is not None else (self._prefetch_target(), False)
                    self._want = None
                try:
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
                finally:
                    if slot:
                        self.gate.give()
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
        raw = self._raw.pop(i, None)
        if raw is not None:  # decoded on the way to an earlier seek: a step back costs a conversion
            self._store(i, r.convert(raw))
            return
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
        """Decode from the keyframe before frame lo up to the frames already cached, converting those from lo
        on: stepping back costs one group of pictures per keyframe crossed, not a seek per step. Gives way at
        once to a new request or a held gate."""
        r = self._reader
        c = self._centre
        for j, f in r.iter_from(r._key_before(lo)):
            if j >= c or self._want is not None or self._stop or self.gate.wait_s():
                return
            if j < lo:
                continue
            if j in self._cache:
                if j > lo:
                    return  # from here to the cursor they are there already
                continue
            self._store(j, r.convert(f))

    def _store(self, i: int, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        # the QImage owns the pixels and `bgra` is a view of them: one conversion, and no QImage over numpy
        # memory that could outlive it once the cache drops the frame
        img = QImage(w, h, QImage.Format.Format_RGB32)  # 0xffRRGGBB: B, G, R, A bytes in memory
        view = np.ndarray((h, w, 4), np.uint8, buffer=img.bits(), strides=(img.bytesPerLine(), 4, 1))
        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA, dst=view)
        f = DecodedFrame(i, float(self.times[i]), view, img, 0.0)
        with self._lock:
            self._cache[i] = f
            self.decoded += 1
            if len(self._cache) > self.cache_frames:
                c = self._centre
                # drop the frames farthest from the cursor (those behind count double: we play forward)
                far = sorted(self._cache, key=lambda j: -(abs(j - c) * (2 if j < c else 1)))
                for j in far[:len(self._cache) - self.cache_frames]:
                    del self._cache[j]
            wanted = i == self._centre  # the UI shows only the cursor's frame: prefetched ones need no word
        if wanted:
            self._emit(self.signals.ready, self.cam_id, i)
