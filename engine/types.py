"""The engine's boundary types: plain dataclasses over numpy arrays, shared by its stages.

Times are seconds on the recording's clock; pixels are (u, v) with the origin at the
top-left pixel centre; world coordinates are metres, z up (recording.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detection:
    """A person found in one camera frame."""
    camera: str
    t: float  # the frame's time
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (pixels, x1/y1 exclusive)
    score: float  # 0..1
    foot: np.ndarray | None = None  # (3,) world floor point under the person, when depth gave one
    height_m: float | None = None  # top of the blob above the floor, when depth gave one


@dataclass
class Pose2D:
    """COCO-17 keypoints of one person in one camera frame."""
    camera: str
    t: float
    keypoints: np.ndarray  # (17, 3): u, v, score in [0, 1] (0: not found)
    box: tuple[int, int, int, int] | None = None
    detection: int | None = None  # index into that frame's detections


@dataclass
class Pose3D:
    """One person's skeleton at one time, from several views."""
    t: float
    joints: np.ndarray  # (17, 3) world metres, NaN where not estimated
    confidence: np.ndarray  # (17,) 0..1
    residual_px: np.ndarray  # (17,) mean reprojection error over the views used, NaN where none
    views: list[tuple[str, int]] = field(default_factory=list)  # (camera, index into that frame's Pose2D list)

    @property
    def floor(self) -> np.ndarray:
        """(2,) floor position: between the ankles, else under the hips."""
        for idx in ((15, 16), (11, 12)):
            p = self.joints[list(idx), :2]
            ok = np.isfinite(p).all(1)
            if ok.any():
                return p[ok].mean(0)
        ok = np.isfinite(self.joints).all(1)
        return self.joints[ok, :2].mean(0) if ok.any() else np.full(2, np.nan)
