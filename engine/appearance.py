"""What a person looks like in one view: clothing colours, for telling people apart after a tangle.

The torso (shoulders to hips) and the legs (hips to ankles) are sampled along the 2D skeleton, so
the floor and shelves around the person hardly enter. Colours are described in Lab (mean and
spread per region), which survives the store's lighting changes better than raw RGB once the
lightness channel is down-weighted.
"""
from __future__ import annotations

import cv2
import numpy as np

from data.world import L_ANKLE, L_HIP, L_KNEE, L_SHOULDER, R_ANKLE, R_HIP, R_KNEE, R_SHOULDER

DIM = 12
MIN_SCORE = 0.3


def _samples(a: np.ndarray, b: np.ndarray, n: int = 7) -> np.ndarray:
    w = np.linspace(0.15, 0.85, n)[:, None]
    return a[None] * (1 - w) + b[None] * w


def appearance(rgb: np.ndarray, kp: np.ndarray) -> np.ndarray | None:
    """A (12,) vector: Lab mean and sd of torso and legs; None when too little of the body is seen."""
    H, W = rgb.shape[:2]
    regions = {
        "torso": [(L_SHOULDER, L_HIP), (R_SHOULDER, R_HIP), (L_SHOULDER, R_HIP), (R_SHOULDER, L_HIP)],
        "legs": [(L_HIP, L_KNEE), (R_HIP, R_KNEE), (L_KNEE, L_ANKLE), (R_KNEE, R_ANKLE)],
    }
    out = []
    for pairs in regions.values():
        pts = [_samples(kp[a, :2], kp[b, :2]) for a, b in pairs if kp[a, 2] >= MIN_SCORE and kp[b, 2] >= MIN_SCORE]
        if not pts:
            return None
        p = np.round(np.concatenate(pts)).astype(int)
        ok = (p[:, 0] >= 0) & (p[:, 0] < W) & (p[:, 1] >= 0) & (p[:, 1] < H)
        if ok.sum() < 4:
            return None
        px = rgb[p[ok, 1], p[ok, 0]].astype(np.uint8).reshape(-1, 1, 3)
        lab = cv2.cvtColor(px, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(float)
        lab[:, 1:] -= 128.0  # a, b centred on grey, so a vector's direction says its colour
        lab[:, 0] *= 0.4  # lightness varies with the lights; the colour channels much less
        out += list(np.median(lab, axis=0)) + list(lab.std(axis=0))
    return np.array(out, np.float32)


def distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Distance between two appearance vectors (NaN when either is unknown)."""
    if a is None or b is None:
        return float("nan")
    d = a - b
    return float(np.sqrt((d[[0, 1, 2, 6, 7, 8]] ** 2).sum() + 0.25 * (d[[3, 4, 5, 9, 10, 11]] ** 2).sum()))
