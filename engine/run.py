"""An engine run on disk: what `walkout process REC --out RUN` writes, and how to read it back by time.

RUN/
  run.json         manifest: format, recording, engine version, stage timings, camera gaps
  poses.npz        recording.md's "Engine output": t, people (track ids), joints (T, P, 17, 3)
  tracks.npz       per-joint confidence (T, P, 17) and floor positions (T, P, 2) on the same grid
  tracks.json      per track: account, role, party, birth/exit flags, tangled intervals, re-id decisions
  frames/<cam>.npz per camera: detections and 2D keypoints by frame time
  looks.npz        every skeleton's clothing look (engine.appearance) and floor point, by tick

Dense arrays live in npz files addressed by time; readers never load more than they are asked for
beyond one camera's file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data.errors import RecordingError

RUN_FORMAT = "walkout-run/1"
ENGINE_VERSION = "0.1.0"


class RunError(RecordingError):
    """An engine run directory is missing, broken, or of a format this version cannot read."""


@dataclass
class CameraFrames:
    """One camera's per-frame results, flattened: row k of `det_*` belongs to frame `det_frame[k]`."""
    camera: str
    times: np.ndarray  # (F,) frame times processed
    det_frame: np.ndarray  # (D,) index into times
    det_box: np.ndarray  # (D, 4) int
    det_score: np.ndarray  # (D,)
    det_foot: np.ndarray  # (D, 3), NaN when unknown
    kp_frame: np.ndarray  # (K,) index into times
    kp: np.ndarray  # (K, 17, 3) u, v, score
    kp_det: np.ndarray  # (K,) index of the detection it came from
    appearance: np.ndarray | None = None  # (K, DIM) clothing look per keypoint row (NaN unknown); None: not kept

    def at(self, t: float) -> tuple[float, np.ndarray, np.ndarray]:
        """(frame time, boxes (n, 4), keypoints (m, 17, 3)) of the processed frame nearest t."""
        if not len(self.times):
            return float("nan"), np.zeros((0, 4), int), np.zeros((0, 17, 3))
        i = int(np.argmin(np.abs(self.times - t)))
        return float(self.times[i]), self.det_box[self.det_frame == i], self.kp[self.kp_frame == i]

    def save(self, path: Path) -> None:
        np.savez_compressed(path, times=self.times, det_frame=self.det_frame, det_box=self.det_box,
                            det_score=self.det_score, det_foot=self.det_foot, kp_frame=self.kp_frame, kp=self.kp,
                            kp_det=self.kp_det, **({} if self.appearance is None else {"appearance": self.appearance}))

    @classmethod
    def load(cls, camera: str, path: Path) -> CameraFrames:
        z = np.load(path)
        return cls(camera, z["times"], z["det_frame"], z["det_box"], z["det_score"], z["det_foot"], z["kp_frame"],
                   z["kp"], z["kp_det"], z["appearance"] if "appearance" in z.files else None)


@dataclass
class TrackInfo:
    id: str
    account: str | None
    role: str | None  # shopper | associate | None (no scan linked)
    party: int | None  # index of the gate scan
    born_in_entry: bool
    ended_in_exit: bool
    t0: float
    t1: float
    tangled: list[tuple[float, float, str]] = field(default_factory=list)
    reid: list[dict[str, Any]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


@dataclass
class Run:
    root: Path
    manifest: dict[str, Any]
    t: np.ndarray
    people: np.ndarray
    joints: np.ndarray  # (T, P, 17, 3)
    confidence: np.ndarray  # (T, P, 17)
    floor: np.ndarray  # (T, P, 2)
    tracks: list[TrackInfo]

    def poses_at(self, t: float) -> tuple[float, np.ndarray]:
        """(time, joints (P, 17, 3)) at the engine time nearest t."""
        i = int(np.argmin(np.abs(self.t - t)))
        return float(self.t[i]), self.joints[i]

    def camera_frames(self, cam: str) -> CameraFrames:
        p = self.root / "frames" / f"{cam}.npz"
        if not p.exists():
            raise RunError(f"{p}: missing (camera {cam} has no per-frame results in this run)")
        return CameraFrames.load(cam, p)


def write_run(root: Path, manifest: dict[str, Any], t: np.ndarray, people: list[str], joints: np.ndarray,
              confidence: np.ndarray, floor: np.ndarray, tracks: list[TrackInfo],
              frames: list[CameraFrames]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "frames").mkdir(exist_ok=True)
    for f in frames:
        f.save(root / "frames" / f"{f.camera}.npz")
    np.savez_compressed(root / "poses.npz", t=np.asarray(t, float), people=np.array(people, dtype=str),
                        joints=joints.astype(np.float32))
    np.savez_compressed(root / "tracks.npz", confidence=confidence.astype(np.float32), floor=floor.astype(np.float32))
    (root / "tracks.json").write_text(json.dumps({"tracks": [t.__dict__ for t in tracks]}, indent=1))
    write_manifest(root, manifest)


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    (root / "run.json").write_text(json.dumps({"format": RUN_FORMAT, "engine": ENGINE_VERSION, **manifest},
                                              indent=1))


def read_format_json(path: Path, fmt: str, missing: str, hint: str = "",
                     default: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run's JSON file that names its `format`; RunError says what is wrong with it.

    `missing` completes the message for an absent file (unless `default` stands in for it), `hint`
    the one for another format."""
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        if default is not None:
            return default
        raise RunError(f"{path}: missing{missing}") from None
    except json.JSONDecodeError as e:
        raise RunError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise RunError(f"{path}: expected a JSON object, found {type(d).__name__}")
    if d.get("format") != fmt:
        raise RunError(f"{path}: format {d.get('format')!r}; this walkout reads {fmt!r}{hint}")
    return d


def load_run(root: Path) -> Run:
    root = Path(root)
    manifest = read_format_json(root / "run.json", RUN_FORMAT,
                                f": {root} is not an engine run (make one with `walkout process`)",
                                " (a newer walkout wrote it? process the recording again or upgrade)")
    try:
        z = np.load(root / "poses.npz")
        x = np.load(root / "tracks.npz")
        tracks = [TrackInfo(**{**d, "tangled": [tuple(v) for v in d.get("tangled", [])]})
                  for d in json.loads((root / "tracks.json").read_text())["tracks"]]
        return Run(root, manifest, z["t"], z["people"], z["joints"], x["confidence"], x["floor"], tracks)
    except FileNotFoundError as e:
        raise RunError(f"{root}: incomplete run, {Path(e.filename).name} is missing") from None
    except (KeyError, ValueError, TypeError) as e:
        raise RunError(f"{root}: unreadable run ({e})") from None
