"""Review workstation benchmark: first frames of a visit, exact seeks, frame steps, playback at 1x and 2x.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_review.py --rec REC --run RUN

REC/RUN: a 6-camera corner-store recording and its engine run (with receipts). Without them, one is made
in a temporary folder (`walkout simulate --random --seed 1 --people 6 --duration 30`, then processed).
The window is the real one (1920x1080, offscreen), with the reviewer's overlays on.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import review_ui  # noqa: E402,F401 - before any Qt call
from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.frames import StreamReader  # noqa: E402
from labeling.review_db import open_db  # noqa: E402
from review_ui.main_window import ReviewWindow  # noqa: E402


def make_recording(tmp: Path) -> tuple[Path, Path]:
    rec, run = tmp / "rec", tmp / "run"
    walkout = [sys.executable, "-m", "app.cli"]
    subprocess.run(walkout + ["simulate", "--random", "--seed", "1", "--people", "6", "--duration", "30", "-q",
                              str(rec)], check=True)
    subprocess.run(walkout + ["process", str(rec), "--out", str(run), "-q"], check=True)
    return rec, run


def wait_shown(app: QApplication, w: ReviewWindow, timeout: float = 10.0) -> float:
    """Seconds until every camera shows its frame at the cursor, painted on screen."""
    t0 = time.perf_counter()
    while not w.rview.grid.all_painted():
        app.processEvents()
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("cameras did not show their frames")
        time.sleep(0.0003)
    return time.perf_counter() - t0


def run_for(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


KEY_REPEAT_HZ = 25.0  # the X server's default autorepeat rate (xset q: "repeat rate: 25")


def steps(app: QApplication, w: ReviewWindow, direction: int, n: int, gap_ms: float) -> list[float]:
    """Seconds from each frame step to every camera painted. Presses come every gap_ms (a press that falls
    due while the previous step is still painting waits for it, as a queued key event would)."""
    got = []
    for _ in range(n):
        t0 = time.perf_counter()
        w.step_frames(direction)
        got.append(time.perf_counter() - t0 + wait_shown(app, w))
        while (time.perf_counter() - t0) * 1e3 < gap_ms:
            app.processEvents()
            time.sleep(0.0005)
    return got


def pct(x: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(x), q))


def playback(app: QApplication, w: ReviewWindow, speed: float, seconds: float) -> dict:
    grid = w.rview.grid
    dur = w.rview.scene.rec.duration_s
    w.player.pause()
    w.player.set_span(0.0, dur)  # the whole recording: a visit is too short for seconds of 2x
    seconds = min(seconds, (dur - 2.0) / speed)
    w.player.set_speed(speed)
    w.player.seek(1.0)
    wait_shown(app, w)
    run_for(300)  # let the decoders fill their caches ahead, as they do whenever the reviewer pauses
    before = {c: t.shown for c, t in grid.tiles.items()}
    spreads, lags, offs = [], [], []

    def sample(t: float) -> None:
        ts = np.array([tile.shown_t for tile in grid.tiles.values()])
        ts = ts[np.isfinite(ts)]
        if len(ts) > 1:
            spreads.append(float(ts.max() - ts.min()))
            lags.append(float(t - ts.mean()))
            offs.append(float(np.abs(ts - t).max()))
    w.player.cursorChanged.connect(sample)
    t_start, c_start = time.perf_counter(), w.player.t
    w.player.play()
    run_for(int(seconds * 1000))
    assert w.player.playing, "playback reached the end: the figures would count a paused player"
    w.player.pause()
    wall = time.perf_counter() - t_start
    w.player.cursorChanged.disconnect(sample)
    fps = {c: (t.shown - before[c]) / wall for c, t in grid.tiles.items()}
    nominal = {c.id: c.fps * speed for c in w.rview.scene.rec.cameras}
    return {"speed": speed, "wall_s": round(wall, 2), "clock_advance_s": round(w.player.t - c_start, 2),
            "fps_per_camera": {c: round(v, 1) for c, v in fps.items()},
            "fps_min": round(min(fps.values()), 1), "fps_nominal": round(min(nominal.values()), 1),
            "spread_ms_p50": round(pct(spreads, 50) * 1e3, 1), "spread_ms_p95": round(pct(spreads, 95) * 1e3, 1),
            "spread_ms_max": round(max(spreads) * 1e3, 1),
            "lag_ms_p50": round(pct(lags, 50) * 1e3, 1), "lag_ms_max": round(max(np.abs(lags)) * 1e3, 1),
            "off_cursor_ms_p95": round(pct(offs, 95) * 1e3, 1), "off_cursor_ms_max": round(max(offs) * 1e3, 1),
            "frame_period_ms": round(1e3 / min(c.fps for c in w.rview.scene.rec.cameras), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rec", type=Path)
    ap.add_argument("--run", type=Path)
    ap.add_argument("--seeks", type=int, default=80)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--play-s", type=float, default=8.0)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-review-"))
    rec, run = (a.rec, a.run) if a.rec and a.run else make_recording(tmp)
    if not (run / "receipts.json").exists():
        from engine.receipts import run_cart

        run_cart(rec, run)
    db = open_db(tmp / "review.db")
    db.ingest_run(run)
    keys = [q.key for q in db.queue(include_claimed=True)]
    app = QApplication.instance() or QApplication([])
    w = ReviewWindow(db, "bench")
    w.resize(1920, 1080)
    w.show()
    app.processEvents()
    out: dict = {"recording": str(rec)}
    # -- first frames: cold (recording not open yet) and warm (another visit of the same recording)
    t0 = time.perf_counter()
    w.open_visit(keys[0])
    cold = time.perf_counter() - t0 + wait_shown(app, w)
    warm = []
    for k in keys[1:4] + keys[:1]:
        t0 = time.perf_counter()
        w.open_visit(k)
        warm.append(time.perf_counter() - t0 + wait_shown(app, w))
    out["cameras"] = len(w.rview.grid.tiles)
    out["first_frames_cold_s"] = round(cold, 3)
    out["first_frames_warm_s"] = [round(x, 3) for x in warm]
    run_for(600)  # plots built, caches settled
    # -- exact seeks to random times of the visit
    grid = w.rview.grid
    rng = np.random.default_rng(0)
    a0, b0 = w.player.span
    seeks, exact = [], 0
    refs = {cid: StreamReader(d.path, "colour", d.size) for cid, d in grid.decoders.items() if d.path}
    for n in range(a.seeks):
        t = float(rng.uniform(a0, b0))
        t0 = time.perf_counter()
        w.player.seek(t)
        seeks.append(time.perf_counter() - t0 + wait_shown(app, w))
        if n % 10 == 0:  # the pixels on screen are the frame nearest t, decoded independently
            for cid, tile in grid.tiles.items():
                d = grid.decoders[cid]
                i = d.index_near(t)
                if i is not None:
                    exact += int(tile.frame.index == i and np.array_equal(tile.frame.rgb, refs[cid].get(i)))
    checked = sum(1 for n in range(a.seeks) if n % 10 == 0) * len(refs)
    out["seek_ms_p50"] = round(pct(seeks, 50) * 1e3, 1)
    out["seek_ms_p95"] = round(pct(seeks, 95) * 1e3, 1)
    out["seek_ms_max"] = round(max(seeks) * 1e3, 1)
    out["seek_exact_frames"] = f"{exact}/{checked}"
    # -- frame steps, from the middle of the visit: one key press at a time (the reviewer looks between
    # presses), a key held down (X's autorepeat: 25 presses a second), and back-to-back with no pause at all
    for mode, gap_ms in (("single", 300), ("held", 1000 / KEY_REPEAT_HZ), ("burst", 0)):
        w.player.seek((a0 + b0) / 2)
        wait_shown(app, w)
        run_for(300)
        for direction, name in ((1, "fwd"), (-1, "back")):
            got = steps(app, w, direction, a.steps if mode != "single" else a.steps // 3, gap_ms)
            out[f"step_{mode}_{name}_ms_p50"] = round(pct(got, 50) * 1e3, 1)
            out[f"step_{mode}_{name}_ms_p95"] = round(pct(got, 95) * 1e3, 1)
            out[f"step_{mode}_{name}_ms_max"] = round(max(got) * 1e3, 1)
    # -- playback with overlays
    out["play_1x"] = playback(app, w, 1.0, a.play_s)
    out["play_2x"] = playback(app, w, 2.0, a.play_s)
    w.toggle_all_layers()
    out["play_1x_engineer_layers"] = playback(app, w, 1.0, a.play_s)
    w.close()
    text = json.dumps(out, indent=1)
    print(text)
    if a.json:
        a.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
