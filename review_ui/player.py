"""The one time cursor every view follows, and playback that moves it on the wall clock.

Playback is anchored: t = t_anchor + speed x (now - wall_anchor), so a slow repaint never slows the
clock down (cameras drop a frame rather than drift). Seeking, frame steps and loops all go through
`seek`, which emits `cursorChanged` once.
"""
from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)


class SyncPlayer(QObject):
    cursorChanged = Signal(float)
    stateChanged = Signal()  # playing, speed or loop changed

    def __init__(self, parent: QObject | None = None, tick_ms: int = 8) -> None:
        super().__init__(parent)
        self.t = 0.0
        self.span = (0.0, 1.0)
        self.speed = 1.0
        self.playing = False
        self.loop: tuple[float, float] | None = None
        self._anchor = (0.0, 0.0)
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._tick)

    def set_span(self, a: float, b: float) -> None:
        self.span = (float(a), float(max(b, a + 1e-3)))

    def seek(self, t: float) -> None:
        t = min(max(float(t), self.span[0]), self.span[1])
        self.t = t
        if self.playing:
            self._anchor = (t, time.monotonic())
        self.cursorChanged.emit(t)

    def step_seconds(self, dt: float) -> None:
        self.seek(self.t + dt)

    def play(self) -> None:
        if self.playing:
            return
        if self.t >= self.span[1] - 1e-3:
            self.t = self.loop[0] if self.loop else self.span[0]
        self.playing = True
        self._anchor = (self.t, time.monotonic())
        self._timer.start()
        self.stateChanged.emit()

    def pause(self) -> None:
        if not self.playing:
            return
        self.playing = False
        self._timer.stop()
        self.stateChanged.emit()

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def set_speed(self, s: float) -> None:
        self.speed = min(max(s, SPEEDS[0]), SPEEDS[-1])
        self._anchor = (self.t, time.monotonic())
        self.stateChanged.emit()

    def faster(self) -> None:
        self.set_speed(next((s for s in SPEEDS if s > self.speed + 1e-9), SPEEDS[-1]))

    def slower(self) -> None:
        self.set_speed(next((s for s in reversed(SPEEDS) if s < self.speed - 1e-9), SPEEDS[0]))

    def set_loop(self, span: tuple[float, float] | None) -> None:
        self.loop = span
        self.stateChanged.emit()

    def _tick(self) -> None:
        t0, w0 = self._anchor
        t = t0 + self.speed * (time.monotonic() - w0)
        if self.loop is not None and t > self.loop[1]:
            t = self.loop[0]
            self._anchor = (t, time.monotonic())
        elif t >= self.span[1]:
            self.t = self.span[1]
            self.cursorChanged.emit(self.t)
            self.pause()
            return
        self.t = t
        self.cursorChanged.emit(t)
