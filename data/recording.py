"""Reading and validating recordings (spec/recording.md).

`open_recording` reads the small files (manifest, store, catalog, cameras)
and raises RecordingError on the first problem, naming the file and field.
`validate_recording` goes through everything, the video streams included,
and lists every problem it finds: what `walkout validate` prints.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data.cameras import Camera, parse_cameras
from data.errors import RecordingError
from data.store import Catalog, Store, load_json, read_store_dir

FORMAT = "walkout-recording/1"


@dataclass
class Recording:
    root: Path
    id: str
    store_name: str
    duration_s: float
    started_at: str
    source: str
    store: Store
    catalog: Catalog
    cameras: list[Camera]

    @property
    def has_truth(self) -> bool:
        return (self.root / "truth").is_dir()

    def camera(self, cid: str) -> Camera:
        return next(c for c in self.cameras if c.id == cid)

    def video_path(self, cam: Camera) -> Path | None:
        return self.root / "cameras" / cam.video if cam.video else None

    def depth_path(self, cam: Camera) -> Path | None:
        return self.root / "cameras" / cam.depth if cam.depth else None

    def weights(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """sensor id -> (t, grams) arrays."""
        return read_weights(self.root, {s.id for s in self.store.sensors})

    def gate_events(self) -> list[dict]:
        return read_gates(self.root)

    def truth_events(self) -> list[dict]:
        p = self.root / "truth" / "events.jsonl"
        return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []

    def truth_receipts(self) -> dict:
        p = self.root / "truth" / "receipts.json"
        return load_json(p) if p.exists() else {"visits": []}


def read_manifest(root: Path) -> dict[str, Any]:
    m = load_json(root / "recording.json")
    where = root / "recording.json"
    if not isinstance(m, dict):
        raise RecordingError(f"{where}: must be a JSON object")
    if m.get("format") != FORMAT:
        raise RecordingError(f"{where}: format {m.get('format')!r}, expected {FORMAT!r}")
    d = m.get("duration_s")
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not d > 0:
        raise RecordingError(f"{where}: 'duration_s' must be a number > 0, got {d!r}")
    return m


def open_recording(path: Path) -> Recording:
    root = Path(path)
    if not root.is_dir():
        raise RecordingError(f"{root}: not a directory (a recording is a directory with recording.json)")
    m = read_manifest(root)
    store, catalog = read_store_dir(root)
    cams = parse_cameras(load_json(root / "cameras" / "cameras.json"), str(root / "cameras" / "cameras.json"))
    return Recording(root, str(m.get("id", root.name)), str(m.get("store", "")), float(m["duration_s"]),
                     str(m.get("started_at", "")), str(m.get("source", "")), store, catalog, cams)


def read_weights(root: Path, sensors: set[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    path = root / "sensors" / "weights.csv"
    if not path.exists() and (root / "sensors" / "weights.csv.gz").exists():
        path = root / "sensors" / "weights.csv.gz"
        text = gzip.open(path, "rt").read()
    else:
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise RecordingError(f"{path}: missing") from None
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header != ["t", "sensor", "grams"]:
        raise RecordingError(f"{path}: header {header}, expected t,sensor,grams")
    series: dict[str, list[tuple[float, float]]] = {}
    last = -math.inf
    for n, row in enumerate(rows, start=2):
        if not row:
            continue
        try:
            t, sid, g = float(row[0]), row[1], float(row[2])
        except (ValueError, IndexError):
            raise RecordingError(f"{path}: line {n}: expected t,sensor,grams numbers, got {row}") from None
        if t < last:
            raise RecordingError(f"{path}: line {n}: time {t} goes back (previous {last})")
        if sid not in sensors:
            raise RecordingError(f"{path}: line {n}: unknown sensor {sid!r}")
        last = t
        series.setdefault(sid, []).append((t, g))
    return {k: (np.array([a for a, _ in v]), np.array([b for _, b in v])) for k, v in series.items()}


def read_gates(root: Path) -> list[dict]:
    path = root / "gates" / "events.jsonl"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise RecordingError(f"{path}: missing") from None
    out = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            raise RecordingError(f"{path}: line {n}: not JSON") from None
        for k in ("t", "account", "party_size", "role"):
            if k not in e:
                raise RecordingError(f"{path}: line {n}: missing field '{k}'")
        if e["role"] not in ("shopper", "associate"):
            raise RecordingError(f"{path}: line {n}: role must be shopper or associate, got {e['role']!r}")
        if not isinstance(e["party_size"], int) or e["party_size"] < 1:
            raise RecordingError(f"{path}: line {n}: party_size must be an integer >= 1")
        out.append(e)
    return out


def check_stream(path: Path, codec: str, pix: str, size: tuple[int, int], duration: float,
                 max_frames: int = 0) -> tuple[list[str], np.ndarray]:
    """Problems with one video stream, and its frame times."""
    import av

    problems: list[str] = []
    times: list[float] = []
    try:
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            if s.codec_context.name != codec:
                problems.append(f"{path}: codec {s.codec_context.name}, expected {codec}")
            for i, f in enumerate(c.decode(s)):
                if i == 0:
                    if (f.width, f.height) != size:
                        problems.append(f"{path}: frame size {f.width}x{f.height}, cameras.json says "
                                        f"{size[0]}x{size[1]}")
                    if f.format.name != pix:
                        problems.append(f"{path}: pixel format {f.format.name}, expected {pix}")
                if f.time is None:
                    problems.append(f"{path}: frame {i} has no time")
                    break
                times.append(float(f.time))
                if max_frames and i + 1 >= max_frames:
                    break
    except FileNotFoundError:
        return [f"{path}: missing"], np.array([])
    except Exception as e:  # noqa: BLE001 - any decoder failure is a finding, not a crash
        return [f"{path}: cannot decode ({e})"], np.array(times)
    t = np.array(times)
    if not len(t):
        problems.append(f"{path}: no frames")
    elif np.any(np.diff(t) <= 0):
        k = int(np.argmax(np.diff(t) <= 0)) + 1
        problems.append(f"{path}: frame {k} time {t[k]:.3f} does not follow {t[k - 1]:.3f}")
    elif t[0] < -1e-6 or t[-1] > duration + 1.0:
        problems.append(f"{path}: frame times {t[0]:.3f}..{t[-1]:.3f} fall outside 0..{duration}")
    return problems, t


def validate_recording(path: Path, max_frames: int = 0) -> list[str]:
    """Every problem found in a recording (empty when it conforms)."""
    root = Path(path)
    try:
        rec = open_recording(root)
    except RecordingError as e:
        return [str(e)]
    problems: list[str] = []
    for cam in rec.cameras:
        if cam.keypoints:
            kp = root / "cameras" / cam.keypoints
            if not kp.is_file():
                problems.append(f"{kp}: missing (camera {cam.id} keypoints)")
        if cam.video is None:
            continue
        p, tc = check_stream(root / "cameras" / cam.video, "h264", "yuv420p", (cam.width, cam.height),
                             rec.duration_s, max_frames)
        problems += p
        if cam.depth:
            p, td = check_stream(root / "cameras" / cam.depth, "ffv1", "gray16le", (cam.width, cam.height),
                                 rec.duration_s, max_frames)
            problems += p
            n = min(len(tc), len(td))
            if n and np.max(np.abs(tc[:n] - td[:n])) > 1e-3:
                problems.append(f"camera {cam.id}: depth frame times differ from colour frame times")
    try:
        series = rec.weights()
        for s in rec.store.sensors:
            t, _ = series.get(s.id, (np.array([]), None))
            if len(t) < 2:
                problems.append(f"sensors/weights.csv: sensor {s.id} has no readings")
    except RecordingError as e:
        problems.append(str(e))
    try:
        rec.gate_events()
    except RecordingError as e:
        problems.append(str(e))
    return problems
