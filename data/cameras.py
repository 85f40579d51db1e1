"""Calibrated cameras (recording.md: cameras/cameras.json) and their geometry.

OpenCV pinhole with [k1, k2, p1, p2, k3] distortion, x_cam = R x_world + t.
Projection goes through cv2 so that the simulator and the engine agree with
OpenCV to the last pixel.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from data.errors import RecordingError
from data.store import ID_RE, load_json


@dataclass
class Camera:
    id: str
    width: int
    height: int
    fps: float
    K: np.ndarray  # (3, 3)
    dist: np.ndarray  # (5,)
    R: np.ndarray  # (3, 3) world -> camera
    t: np.ndarray  # (3,)
    video: str | None = None
    depth: str | None = None
    keypoints: str | None = None

    @property
    def center(self) -> np.ndarray:
        """The camera's optical centre in world coordinates."""
        return -self.R.T @ self.t

    @property
    def max_r2(self) -> float:
        """Squared normalised radius beyond which projection is not trusted: 1.2x the image corners'."""
        if getattr(self, "_max_r2", None) is None:
            w, h = self.width - 0.5, self.height - 0.5
            corners = np.array([[-0.5, -0.5], [w, -0.5], [-0.5, h], [w, h]], float).reshape(-1, 1, 2)
            n = cv2.undistortPoints(corners, self.K, self.dist).reshape(-1, 2)
            self._max_r2 = float((n ** 2).sum(1).max() * 1.44)
        return self._max_r2

    @property
    def rvec(self) -> np.ndarray:
        return cv2.Rodrigues(self.R)[0]

    def to_camera(self, pts: np.ndarray) -> np.ndarray:
        """World points (..., 3) to camera coordinates (..., 3)."""
        return np.asarray(pts, float) @ self.R.T + self.t

    def project(self, pts: np.ndarray) -> np.ndarray:
        """World points (..., 3) to pixels (..., 2), distortion included.

        Points behind the camera come back as NaN.
        """
        pts = np.asarray(pts, float)
        shape = pts.shape[:-1]
        flat = pts.reshape(-1, 3)
        out = np.full((len(flat), 2), np.nan)
        if len(flat):
            pc = self.to_camera(flat)
            z = pc[:, 2]
            ok = np.isfinite(flat).all(1) & (z > 1e-6)
            with np.errstate(invalid="ignore", divide="ignore"):
                r2 = (pc[:, 0] ** 2 + pc[:, 1] ** 2) / z ** 2
            # far outside the field of view the distortion polynomial folds back into the image
            ok &= r2 <= self.max_r2
            if ok.any():
                uv, _ = cv2.projectPoints(flat[ok].reshape(-1, 1, 3), self.rvec, self.t.reshape(3, 1), self.K,
                                          self.dist)
                out[ok] = uv.reshape(-1, 2)
        return out.reshape(*shape, 2)

    def pixel_rays(self) -> np.ndarray:
        """Unit world-frame ray directions through every pixel centre, (H, W, 3)."""
        u, v = np.meshgrid(np.arange(self.width, dtype=np.float64), np.arange(self.height, dtype=np.float64))
        pix = np.stack([u, v], -1).reshape(-1, 1, 2)
        norm = cv2.undistortPoints(pix, self.K, self.dist).reshape(-1, 2)
        d_cam = np.concatenate([norm, np.ones((len(norm), 1))], 1)
        d_world = d_cam @ self.R  # R^T d for each row
        d_world /= np.linalg.norm(d_world, axis=1, keepdims=True)
        return d_world.reshape(self.height, self.width, 3)

    def in_image(self, uv: np.ndarray, margin: float = 0.0) -> np.ndarray:
        uv = np.asarray(uv, float)
        return (np.isfinite(uv).all(-1) & (uv[..., 0] >= -0.5 + margin) & (uv[..., 1] >= -0.5 + margin)
                & (uv[..., 0] <= self.width - 0.5 - margin) & (uv[..., 1] <= self.height - 0.5 - margin))

    def projection_matrix(self) -> np.ndarray:
        """3x4 P = K [R | t] (distortion not included)."""
        return self.K @ np.hstack([self.R, self.t.reshape(3, 1)])

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "video": self.video, "depth": self.depth,
                **({"keypoints": self.keypoints} if self.keypoints else {}),
                "width": self.width, "height": self.height, "fps": self.fps,
                "K": self.K.tolist(), "dist": self.dist.tolist(), "R": self.R.tolist(), "t": self.t.tolist()}


def look_at(eye: np.ndarray, target: np.ndarray, up_hint: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) of a camera at `eye` looking at `target`, image x to the right, y down."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z /= np.linalg.norm(z)
    hint = np.array([0.0, 1.0, 0.0]) if up_hint is None else np.asarray(up_hint, float)
    if abs(np.dot(hint, z)) > 0.99:
        hint = np.array([1.0, 0.0, 0.0])
    x = np.cross(z, hint)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    if np.linalg.det(R) < 0:
        R[0] *= -1
    return R, -R @ eye


def parse_cameras(obj: Any, file: str = "cameras/cameras.json") -> list[Camera]:
    """Validate a cameras.json object; RecordingError names the camera and the field."""
    if not isinstance(obj, dict) or not isinstance(obj.get("cameras"), list) or not obj["cameras"]:
        raise RecordingError(f"{file}: 'cameras' must be a non-empty list")
    cams = []
    seen: set[str] = set()
    for i, c in enumerate(obj["cameras"]):
        cid = c.get("id") if isinstance(c, dict) else None
        if not isinstance(cid, str) or not ID_RE.match(cid):
            raise RecordingError(f"{file}: cameras[{i}]: 'id' must be an id of [A-Za-z0-9._-], got {cid!r}")
        if cid in seen:
            raise RecordingError(f"{file}: camera {cid}: duplicate id")
        seen.add(cid)
        where = f"{file}: camera {cid}"
        try:
            K = np.array(c["K"], float)
            R = np.array(c["R"], float)
            t = np.array(c["t"], float)
            dist = np.array(c.get("dist") or [0, 0, 0, 0, 0], float)
        except KeyError as e:
            raise RecordingError(f"{where}: missing field {e}") from None
        except (ValueError, TypeError) as e:
            raise RecordingError(f"{where}: calibration is not numeric ({e})") from None
        if K.shape != (3, 3) or R.shape != (3, 3) or t.shape != (3,) or dist.shape != (5,):
            raise RecordingError(f"{where}: K, R, t, dist must be 3x3, 3x3, 3 and 5 numbers")
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or abs(np.linalg.det(R) - 1) > 1e-4:
            raise RecordingError(f"{where}: 'R' is not a rotation matrix")
        w, h = c.get("width"), c.get("height")
        if not (isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0):
            raise RecordingError(f"{where}: 'width' and 'height' must be positive integers, got {w!r}, {h!r}")
        fps = c.get("fps", 15)
        if not isinstance(fps, (int, float)) or fps <= 0:
            raise RecordingError(f"{where}: 'fps' must be > 0, got {fps!r}")
        if c.get("video") is None and not c.get("keypoints"):
            raise RecordingError(f"{where}: has neither 'video' nor 'keypoints'")
        cams.append(Camera(cid, w, h, float(fps), K, dist, R, t, c.get("video"), c.get("depth") or None,
                           c.get("keypoints") or None))
    return cams


def read_cameras(path: Path) -> list[Camera]:
    return parse_cameras(load_json(path), str(path))
