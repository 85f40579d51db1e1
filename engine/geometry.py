"""Multi-view geometry for the engine (design.md stage 1): undistort, project, triangulate.

Everything goes through the OpenCV camera model of recording.md (pinhole,
[k1, k2, p1, p2, k3] distortion, x_cam = R x_world + t). `data.cameras.Camera`
projects with cv2; here are the inverse direction and the multi-view pieces:

- `undistort`: pixels -> normalised image coordinates (cv2.undistortPoints);
- `rays`: pixels -> world rays from the camera centre;
- `triangulate_dlt`: the textbook homogeneous DLT (SVD), weighted, vectorised
  over points; with unit weights and two views it is cv2.triangulatePoints;
- `triangulate_ls`: the fast path used by the engine: weighted linear least
  squares on normalised coordinates, re-weighted by 1/depth so that it
  minimises (approximately) the reprojection error in pixels;
- `reprojection_error`: pixel distance per view and point;
- `CameraArrays`: several cameras' parameters stacked, to project many points
  into many views in one numpy expression (same numbers as cv2.projectPoints).

Shapes: V views, J points (joints). Missing observations are NaN pixels or
weight 0; points that cannot be triangulated come back NaN.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from data.cameras import Camera


# -- single camera ------------------------------------------------------------------------

def undistort(cam: Camera, uv: np.ndarray) -> np.ndarray:
    """Pixels (..., 2) -> normalised image coordinates (..., 2) (x/z, y/z in the camera frame).

    NaN pixels stay NaN.
    """
    uv = np.asarray(uv, float)
    shape = uv.shape[:-1]
    flat = uv.reshape(-1, 2)
    out = np.full(flat.shape, np.nan)
    ok = np.isfinite(flat).all(1)
    if ok.any():
        out[ok] = cv2.undistortPoints(flat[ok].reshape(-1, 1, 2), cam.K, cam.dist).reshape(-1, 2)
    return out.reshape(*shape, 2)


def undistort_pixels(cam: Camera, uv: np.ndarray) -> np.ndarray:
    """Pixels (..., 2) -> pixels of the ideal (distortion-free) camera with the same K."""
    n = undistort(cam, uv)
    return n @ cam.K[:2, :2].T + cam.K[:2, 2]


def project(cam: Camera, pts: np.ndarray) -> np.ndarray:
    """World points (..., 3) -> pixels (..., 2), distortion included (Camera.project, through cv2)."""
    return cam.project(pts)


def rays(cam: Camera, uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World rays through pixels (..., 2): (origin (3,), unit directions (..., 3)); NaN where uv is."""
    n = undistort(cam, uv)
    d = np.concatenate([n, np.ones(n.shape[:-1] + (1,))], -1) @ cam.R  # R^T d per row
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    return cam.center, d


def ray_closest(o1: np.ndarray, d1: np.ndarray, o2: np.ndarray, d2: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closest approach of rays o1 + s d1 and o2 + u d2 (unit directions, broadcast over ...).

    Returns (distance, midpoint (..., 3), s, u); s or u < 0 means the closest
    point lies behind that ray's origin. Parallel rays give NaN.
    """
    w0 = o1 - o2
    b = (d1 * d2).sum(-1)
    d = (d1 * w0).sum(-1)
    e = (d2 * w0).sum(-1)
    den = 1.0 - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        den = np.where(den > 1e-12, den, np.nan)
        s = (b * e - d) / den
        u = (e - b * d) / den
    p1 = o1 + s[..., None] * d1
    p2 = o2 + u[..., None] * d2
    return np.linalg.norm(p1 - p2, axis=-1), (p1 + p2) / 2, s, u


# -- triangulation ------------------------------------------------------------------------

def triangulate_dlt(P: np.ndarray, x: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Weighted homogeneous DLT of J points from V views.

    P: (V, 3, 4) projection matrices (or (V, J, 3, 4), one per view and point);
    x: (V, J, 2) image points in the frame of P (pixels with K[R|t], normalised
    coordinates with [R|t]); w: (V, J) weights, 0 (or a NaN x) leaves that
    view out. Each view adds rows w * (x P3 - P1), w * (y P3 - P2); the point is
    the right singular vector of the smallest singular value (as in
    cv2.triangulatePoints). Returns (J, 3); NaN where fewer than 2 views.
    """
    P = np.asarray(P, float)
    x = np.asarray(x, float)
    V, J = x.shape[:2]
    w = np.ones((V, J)) if w is None else np.asarray(w, float).copy()
    ok = np.isfinite(x).all(-1) & (w > 0)
    w = np.where(ok, w, 0.0)
    x = np.where(ok[..., None], x, 0.0)
    if P.ndim == 3:
        P = np.broadcast_to(P[:, None], (V, J, 3, 4))
    r1 = x[..., 0:1] * P[..., 2, :] - P[..., 0, :]  # (V, J, 4)
    r2 = x[..., 1:2] * P[..., 2, :] - P[..., 1, :]
    A = np.concatenate([r1 * w[..., None], r2 * w[..., None]], 0).transpose(1, 0, 2)  # (J, 2V, 4)
    out = np.full((J, 3), np.nan)
    good = ok.sum(0) >= 2
    if good.any():
        _, _, vt = np.linalg.svd(A[good], full_matrices=False)
        X = vt[:, -1, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[good] = X[:, :3] / X[:, 3:4]
    return out


def _solve3(M: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve symmetric 3x3 systems M x = b over leading axes (adjugate formula); NaN when singular."""
    a, bb, c = M[..., 0, 0], M[..., 0, 1], M[..., 0, 2]
    d, e, f = M[..., 1, 1], M[..., 1, 2], M[..., 2, 2]
    A0 = d * f - e * e
    A1 = c * e - bb * f
    A2 = bb * e - c * d
    A4 = a * f - c * c
    A5 = bb * c - a * e
    A8 = a * d - bb * bb
    det = a * A0 + bb * A1 + c * A2
    scale = (np.abs(a) + np.abs(d) + np.abs(f)) ** 3 + 1e-300
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(np.abs(det) > 1e-12 * scale, 1.0 / det, np.nan)
    x0 = (A0 * b[..., 0] + A1 * b[..., 1] + A2 * b[..., 2]) * inv
    x1 = (A1 * b[..., 0] + A4 * b[..., 1] + A5 * b[..., 2]) * inv
    x2 = (A2 * b[..., 0] + A5 * b[..., 1] + A8 * b[..., 2]) * inv
    return np.stack([x0, x1, x2], -1)


def triangulate_ls(Rt: np.ndarray, xn: np.ndarray, w: np.ndarray, focal: np.ndarray | None = None,
                   iters: int = 2) -> np.ndarray:
    """Fast weighted triangulation on normalised coordinates, vectorised over any leading axes.

    Rt: (..., V, 3, 4) [R|t] per view (broadcast against xn's leading axes);
    xn: (..., V, 2) normalised image points; w: (..., V) weights (0: unused);
    focal: (..., V) pixel focal lengths, to weigh views in pixels.
    Linear least squares on the inhomogeneous DLT rows, then `iters` passes
    re-weighting each view by focal / depth, which turns the algebraic error
    into (approximately) the reprojection error in pixels.
    Returns (..., 3); NaN where fewer than 2 views have weight.
    """
    Rt = np.asarray(Rt, float)
    xn = np.asarray(xn, float)
    w = np.asarray(w, float)
    ok = np.isfinite(xn).all(-1) & (w > 0)
    w = np.where(ok, w, 0.0)
    xn = np.where(ok[..., None], xn, 0.0)
    f = np.ones_like(w) if focal is None else np.broadcast_to(np.asarray(focal, float), w.shape)
    rows = np.concatenate([xn[..., 0:1] * Rt[..., 2, :] - Rt[..., 0, :],
                           xn[..., 1:2] * Rt[..., 2, :] - Rt[..., 1, :]], -2)  # (..., 2V, 4)
    A, a4 = rows[..., :3], rows[..., 3:]
    ww = w * f
    X = None
    for it in range(iters + 1):
        if X is not None:
            z = (Rt[..., 2, :3] * X[..., None, :]).sum(-1) + Rt[..., 2, 3]  # (..., V) depth
            with np.errstate(divide="ignore", invalid="ignore"):
                ww = np.where(z > 1e-3, w * f / z, 0.0)
            ww = np.where(np.isfinite(ww), ww, 0.0)
        w2 = np.concatenate([ww, ww], -1)[..., None] ** 2  # (..., 2V, 1)
        Aw = np.swapaxes(A * w2, -1, -2)  # (..., 3, 2V)
        Xn = _solve3(Aw @ A, -(Aw @ a4)[..., 0])
        if X is not None:
            Xn = np.where(np.isfinite(Xn), Xn, X)
        X = Xn
    X = np.where((ok.sum(-1) >= 2)[..., None], X, np.nan)
    return X


def triangulate(cams: Sequence[Camera], uv: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Points (J, 3) from pixels (V, J, 2) seen by cams (V cameras), weights (V, J) (default 1).

    Undistorts, then `triangulate_ls`. NaN where fewer than two views.
    """
    uv = np.asarray(uv, float)
    ca = CameraArrays.from_cameras(cams)
    xn = np.stack([undistort(c, uv[v]) for v, c in enumerate(cams)])  # (V, J, 2)
    w = np.ones(uv.shape[:2]) if w is None else np.asarray(w, float)
    return triangulate_ls(ca.Rt[:, None].swapaxes(0, 1), xn.swapaxes(0, 1), w.T, ca.focal[None, :])


def reprojection_error(cams: Sequence[Camera], X: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Pixel distance (V, J) between points X (J, 3) projected into each camera and uv (V, J, 2); NaN where unknown."""
    X = np.asarray(X, float)
    return np.stack([np.linalg.norm(c.project(X) - np.asarray(uv[v], float), axis=-1) for v, c in enumerate(cams)])


# -- many cameras at once --------------------------------------------------------------------

@dataclass
class CameraArrays:
    """Cameras' parameters stacked (C cameras) for vectorised projection."""
    ids: list[str]
    R: np.ndarray  # (C, 3, 3)
    t: np.ndarray  # (C, 3)
    K: np.ndarray  # (C, 3, 3)
    dist: np.ndarray  # (C, 5)
    Rt: np.ndarray  # (C, 3, 4)
    centers: np.ndarray  # (C, 3)
    focal: np.ndarray  # (C,) mean of fx, fy
    max_r2: np.ndarray  # (C,)
    size: np.ndarray  # (C, 2) width, height

    @classmethod
    def from_cameras(cls, cams: Sequence[Camera]) -> "CameraArrays":
        R = np.stack([c.R for c in cams]).astype(float)
        t = np.stack([c.t for c in cams]).astype(float)
        K = np.stack([c.K for c in cams]).astype(float)
        return cls(ids=[c.id for c in cams], R=R, t=t, K=K,
                   dist=np.stack([np.asarray(c.dist, float) for c in cams]),
                   Rt=np.concatenate([R, t[:, :, None]], 2), centers=np.stack([c.center for c in cams]),
                   focal=(K[:, 0, 0] + K[:, 1, 1]) / 2, max_r2=np.array([c.max_r2 for c in cams]),
                   size=np.array([[c.width, c.height] for c in cams], float))

    def project_all(self, X: np.ndarray, t: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Project points X (..., J, 3) into every camera: (pixels (..., C, J, 2), depth (..., C, J)).

        t, when given, overrides the cameras' translations (broadcast to (..., C, 3)).
        NaN pixels behind a camera or far outside its field of view.
        """
        X = np.asarray(X, float)
        tt = self.t if t is None else t
        Xc = X[..., None, :, :] @ self.R.transpose(0, 2, 1) + np.asarray(tt)[..., :, None, :]  # (..., C, J, 3)
        return self._distort(Xc, self.dist[:, None], self.K[:, None], self.max_r2[:, None])

    @staticmethod
    def _distort(Xc: np.ndarray, k: np.ndarray, K: np.ndarray, max_r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = Xc[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            x = Xc[..., 0] / z
            y = Xc[..., 1] / z
        r2 = x * x + y * y
        radial = 1 + r2 * (k[..., 0] + r2 * (k[..., 1] + r2 * k[..., 4]))
        xy = x * y
        xd = x * radial + 2 * k[..., 2] * xy + k[..., 3] * (r2 + 2 * x * x)
        yd = y * radial + k[..., 2] * (r2 + 2 * y * y) + 2 * k[..., 3] * xy
        u = K[..., 0, 0] * xd + K[..., 0, 1] * yd + K[..., 0, 2]
        v = K[..., 1, 1] * yd + K[..., 1, 2]
        uv = np.stack([u, v], -1)
        uv[~((z > 1e-6) & (r2 <= max_r2))] = np.nan
        return uv, z

    def project(self, cam_idx: np.ndarray, X: np.ndarray, Rt: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        """Project X (..., 3) into cameras cam_idx (broadcast against X's leading axes).

        Returns (pixels (..., 2), depth (...)); NaN pixels behind a camera or
        far outside its field of view (where distortion folds back). Rt, when
        given, overrides the cameras' [R|t] (same leading shape as cam_idx).
        """
        cam_idx = np.asarray(cam_idx)
        if Rt is None:
            Rt = self.Rt[cam_idx]
        Xc = (Rt[..., :3] * X[..., None, :]).sum(-1) + Rt[..., 3]
        return self._distort(Xc, self.dist[cam_idx], self.K[cam_idx], self.max_r2[cam_idx])
