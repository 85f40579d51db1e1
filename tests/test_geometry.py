"""engine.geometry against OpenCV on random distorted cameras."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from data.cameras import Camera, look_at
from engine.geometry import (CameraArrays, ray_closest, rays, reprojection_error, triangulate, triangulate_dlt,
                             triangulate_ls, undistort, undistort_pixels)


def random_cameras(rng: np.random.Generator, n: int) -> list[Camera]:
    """Ceiling-ish cameras around a 6 x 4 m room looking at its middle, with random distortion."""
    cams = []
    for i in range(n):
        ang = 2 * np.pi * i / n + rng.uniform(-0.3, 0.3)
        eye = np.array([3 + 3.5 * np.cos(ang), 2 + 2.5 * np.sin(ang), rng.uniform(2.6, 3.4)])
        target = np.array([3, 2, 1.0]) + rng.uniform(-0.5, 0.5, 3)
        R, t = look_at(eye, target, np.array([0.0, 0.0, -1.0]))
        w, h = 640, 480
        f = rng.uniform(260, 420)
        K = np.array([[f, 0, (w - 1) / 2 + rng.uniform(-8, 8)], [0, f * rng.uniform(0.98, 1.02),
                                                                   (h - 1) / 2 + rng.uniform(-8, 8)], [0, 0, 1]])
        dist = np.array([rng.uniform(-0.08, 0.02), rng.uniform(-0.01, 0.01), rng.uniform(-1e-3, 1e-3),
                         rng.uniform(-1e-3, 1e-3), rng.uniform(-1e-3, 1e-3)])
        cams.append(Camera(f"c{i}", w, h, 15.0, K, dist, R, t, video=f"c{i}.mp4"))
    return cams


def room_points(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.column_stack([rng.uniform(2, 4, n), rng.uniform(1.2, 2.8, n), rng.uniform(0.05, 1.9, n)])


@pytest.fixture
def rig():
    rng = np.random.default_rng(11)
    return rng, random_cameras(rng, 5)


def cv_project(cam: Camera, X: np.ndarray) -> np.ndarray:
    uv, _ = cv2.projectPoints(X.reshape(-1, 1, 3), cv2.Rodrigues(cam.R)[0], cam.t.reshape(3, 1), cam.K, cam.dist)
    return uv.reshape(-1, 2)


def test_vectorised_projection_matches_cv2(rig):
    rng, cams = rig
    X = room_points(rng, 200)
    ca = CameraArrays.from_cameras(cams)
    uv_all, depth = ca.project_all(X)  # (C, N, 2)
    uv_idx, _ = ca.project(np.arange(len(cams))[:, None], X[None])
    for c, cam in enumerate(cams):
        ref = cv_project(cam, X)
        ok = cam.in_image(ref)
        assert ok.sum() > 50
        assert np.abs(uv_all[c][ok] - ref[ok]).max() < 1e-6
        assert np.abs(uv_idx[c][ok] - ref[ok]).max() < 1e-6
        assert np.allclose(cam.project(X)[ok], ref[ok], atol=1e-9)
        assert np.allclose(depth[c], cam.to_camera(X)[:, 2])
    # behind the camera: NaN
    behind = cams[0].center + 2 * (cams[0].center - np.array([3, 2, 1.0]))
    assert np.isnan(ca.project_all(behind[None])[0][0]).all()


def test_undistort_inverts_cv2_projection(rig):
    rng, cams = rig
    X = room_points(rng, 200)
    for cam in cams:
        uv = cv_project(cam, X)
        ok = cam.in_image(uv)
        pc = cam.to_camera(X[ok])
        n = undistort(cam, uv[ok])
        assert np.abs(n - pc[:, :2] / pc[:, 2:]).max() < 1e-6
        ideal = undistort_pixels(cam, uv[ok])
        ref = cv2.projectPoints(X[ok].reshape(-1, 1, 3), cv2.Rodrigues(cam.R)[0], cam.t, cam.K, None)[0].reshape(-1, 2)
        assert np.abs(ideal - ref).max() < 1e-4
        # rays from the centre through the pixel pass through the point
        o, d = rays(cam, uv[ok])
        v = X[ok] - o
        perp = v - (v * d).sum(1, keepdims=True) * d
        assert np.linalg.norm(perp, axis=1).max() < 1e-5
    nan = undistort(cams[0], np.array([[np.nan, 3.0], [100.0, 100.0]]))
    assert np.isnan(nan[0]).all() and np.isfinite(nan[1]).all()


def test_two_view_dlt_equals_cv2_triangulate_points(rig):
    rng, cams = rig
    X = room_points(rng, 100)
    a, b = cams[0], cams[2]
    # pixels with noise, undistorted to ideal pixels: P = K [R | t]
    ua = undistort_pixels(a, a.project(X) + rng.normal(0, 1.5, (100, 2)))
    ub = undistort_pixels(b, b.project(X) + rng.normal(0, 1.5, (100, 2)))
    Pa, Pb = a.projection_matrix(), b.projection_matrix()
    ref = cv2.triangulatePoints(Pa, Pb, ua.T.copy(), ub.T.copy())
    ref = (ref[:3] / ref[3]).T
    ours = triangulate_dlt(np.stack([Pa, Pb]), np.stack([ua, ub]))
    ok = np.isfinite(ua).all(1) & np.isfinite(ub).all(1)
    assert ok.sum() > 50
    assert np.abs(ours[ok] - ref[ok]).max() < 1e-6
    # normalised coordinates with [R | t] give the same points as cv2 on them
    na, nb = undistort(a, a.project(X)), undistort(b, b.project(X))
    Ra, Rb = np.hstack([a.R, a.t[:, None]]), np.hstack([b.R, b.t[:, None]])
    ref2 = cv2.triangulatePoints(Ra, Rb, na.T.copy(), nb.T.copy())
    ref2 = (ref2[:3] / ref2[3]).T
    ours2 = triangulate_dlt(np.stack([Ra, Rb]), np.stack([na, nb]))
    ok = np.isfinite(na).all(1) & np.isfinite(nb).all(1)
    assert np.abs(ours2[ok] - ref2[ok]).max() < 1e-6
    assert np.abs(ours2[ok] - X[ok]).max() < 1e-6


def test_multiview_triangulation_exact_then_noisy(rig):
    rng, cams = rig
    X = room_points(rng, 17)
    uv = np.stack([c.project(X) for c in cams])  # (V, J, 2) with distortion
    est = triangulate(cams, uv)
    ok = np.isfinite(uv).all(-1).sum(0) >= 2
    assert np.abs(est[ok] - X[ok]).max() < 1e-6
    assert np.nanmax(reprojection_error(cams, est, uv)) < 1e-4
    # weighted DLT (homogeneous, normalised coordinates) agrees on exact data too
    xn = np.stack([undistort(c, uv[v]) for v, c in enumerate(cams)])
    Rt = np.stack([np.hstack([c.R, c.t[:, None]]) for c in cams])
    assert np.nanmax(np.abs(triangulate_dlt(Rt, xn, np.full(uv.shape[:2], 0.7)) - X)) < 1e-6
    # 1.5 px noise: about a centimetre at 3-5 m, and no worse than plain DLT on the same data
    errs_ls, errs_dlt = [], []
    for _ in range(20):
        noisy = uv + rng.normal(0, 1.5, uv.shape)
        e = triangulate(cams, noisy)
        xn = np.stack([undistort(c, noisy[v]) for v, c in enumerate(cams)])
        d = triangulate_dlt(Rt, xn)
        errs_ls.append(np.linalg.norm(e - X, axis=1))
        errs_dlt.append(np.linalg.norm(d - X, axis=1))
        res = reprojection_error(cams, e, noisy)
        assert np.nanmean(res) < 3.0
    assert np.nanmean(errs_ls) < 0.02
    assert np.nanmean(errs_ls) <= np.nanmean(errs_dlt) * 1.05


def test_missing_views_and_weights(rig):
    rng, cams = rig
    X = room_points(rng, 6)
    uv = np.stack([c.project(X) for c in cams])
    w = np.ones(uv.shape[:2])
    uv[:, 0] = np.nan  # point 0 seen nowhere
    uv[1:, 1] = np.nan  # point 1 seen once
    w[2:, 2] = 0  # point 2 weighted in two views only
    uv[0, 3] += 400  # a wild outlier, switched off by its weight
    w[0, 3] = 0
    est = triangulate(cams, uv, w)
    assert np.isnan(est[0]).all() and np.isnan(est[1]).all()
    assert np.linalg.norm(est[2] - X[2]) < 1e-6
    assert np.linalg.norm(est[3] - X[3]) < 1e-6
    # an (N, ...) batch of independent problems in one call
    xn = np.stack([undistort(c, np.stack([c.project(X)] * 1)[0]) for c in cams]).transpose(1, 0, 2)  # (J, V, 2)
    ca = CameraArrays.from_cameras(cams)
    batch = triangulate_ls(ca.Rt[None], xn, np.ones(xn.shape[:2]), ca.focal[None])
    assert np.nanmax(np.abs(batch - X)) < 1e-6


def test_ray_closest():
    o1, o2 = np.array([0.0, 0, 3]), np.array([4.0, 0, 3])
    p = np.array([2.0, 1.0, 1.0])
    d1 = (p - o1) / np.linalg.norm(p - o1)
    d2 = (p - o2) / np.linalg.norm(p - o2)
    dist, mid, s, u = ray_closest(o1, d1, o2, d2)
    assert dist < 1e-9 and np.allclose(mid, p) and s > 0 and u > 0
    q = p + np.array([0, 0, 0.1])
    d2q = (q - o2) / np.linalg.norm(q - o2)
    dist, mid, _, _ = ray_closest(o1, d1, o2, d2q)
    assert 0.0 < dist < 0.1
    assert np.isnan(ray_closest(o1, d1, o1 + 1, d1)[0])  # parallel
