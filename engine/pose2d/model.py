"""The 2D pose network and the crop geometry it is trained and used with.

Input: a square RGB crop (INPUT_SIZE x INPUT_SIZE, uint8 values as float) cut
around a person box by `crop_affine` (the box's longer side times CROP_PAD,
centred on the box, padded with black beyond the image). Output: 17 COCO
heatmaps at 1/4 of the input resolution and 17 visibility logits.

The backbone is a compact ResNet (stride 16, most of the work at 16x16 and
8x8), with a two-step FPN-style upsampling path back to 1/4 resolution.
Visibility is read from per-joint "visibility maps" pooled under the joint's
own (detached, softmaxed) heatmap, so it is judged where the joint was found.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.nn_blocks import Res, cbr

NUM_JOINTS = 17
INPUT_SIZE = 128
STRIDE = 4  # heatmap cell = STRIDE x STRIDE input pixels
HEATMAP_SIZE = INPUT_SIZE // STRIDE
CROP_PAD = 1.25  # crop side = longer box side x CROP_PAD
MIN_CROP_SIDE = 12.0  # image pixels: a smaller (or empty) box still gives a crop of this size
# COCO-17 left/right swap under a horizontal flip
FLIP_PERM = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
MEAN, STD = 0.45, 0.25  # input normalisation (after /255)
ARCH = {"name": "pose-resfpn-v1", "widths": (24, 32, 64, 128), "head": 48}


# -- crop geometry ---------------------------------------------------------------------------

def crop_affine(box, size: int = INPUT_SIZE, pad: float = CROP_PAD) -> tuple[np.ndarray, float]:
    """(M, a): the 2x3 affine from image pixels (u, v) to crop pixels, and image pixels per crop pixel.

    box is (x0, y0, x1, y1) with x1/y1 exclusive; pixel coordinates have their origin at the
    top-left pixel's centre (recording.md), in the image and in the crop alike.
    """
    x0, y0, x1, y1 = (float(b) for b in box)
    w, h = max(x1 - x0, 0.0), max(y1 - y0, 0.0)
    cu, cv = (x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5
    side = max(max(w, h) * pad, MIN_CROP_SIDE)
    a = side / size
    # image u = a * i + bu  (i: crop pixel)  =>  i = (u - bu) / a
    bu, bv = cu - side / 2 + 0.5 * a, cv - side / 2 + 0.5 * a
    M = np.array([[1 / a, 0.0, -bu / a], [0.0, 1 / a, -bv / a]])
    return M, a


def crop(image: np.ndarray, box, size: int = INPUT_SIZE, pad: float = CROP_PAD) -> tuple[np.ndarray, np.ndarray, float]:
    """(crop uint8 (size, size, 3), M, a): the square crop around box, black beyond the image."""
    M, a = crop_affine(box, size, pad)
    if a <= 1.6:
        return _warp(image, M, size), M, a
    # shrinking a lot: blur first (only the region the crop reads) so that thin limbs do not alias away
    s = 0.5 * np.sqrt(a * a - 1.0)
    m = int(3 * s) + 2
    H, W = image.shape[:2]
    # image extent of the crop: u = a * i + b for i in [0, size)
    bu, bv = -M[0, 2] * a, -M[1, 2] * a
    ua, ub = max(int(np.floor(bu)) - m, 0), min(int(np.ceil(bu + a * size)) + m + 1, W)
    va, vb = max(int(np.floor(bv)) - m, 0), min(int(np.ceil(bv + a * size)) + m + 1, H)
    if ua >= ub or va >= vb:  # entirely outside the image
        return np.zeros((size, size, 3), np.uint8), M, a
    roi = cv2.GaussianBlur(image[va:vb, ua:ub], (0, 0), sigmaX=float(s), borderType=cv2.BORDER_REPLICATE)
    M2 = M.copy()
    M2[:, 2] += M[:, :2] @ np.array([ua, va], float)
    return _warp(roi, M2, size), M, a


def _warp(img: np.ndarray, M: np.ndarray, size: int) -> np.ndarray:
    return cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))


# -- the network ------------------------------------------------------------------------------

class PoseNet(nn.Module):
    """uint8-valued RGB crops (B, 3, N, N) -> heatmaps (B, 17, N/4, N/4), visibility logits (B, 17)."""

    def __init__(self, widths: tuple[int, int, int, int] = ARCH["widths"], head: int = ARCH["head"]) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = cbr(3, w0, 2)  # /2
        self.l1 = Res(w0, w1, 2)  # /4
        self.l2 = nn.Sequential(Res(w1, w2, 2), Res(w2, w2))  # /8
        self.l3 = nn.Sequential(Res(w2, w3, 2), Res(w3, w3), Res(w3, w3))  # /16
        self.top3 = nn.Conv2d(w3, w2, 1)
        self.fuse2 = cbr(w2, w2)
        self.top2 = nn.Conv2d(w2, head, 1)
        self.lat1 = nn.Conv2d(w1, head, 1)
        self.fuse1 = nn.Sequential(cbr(head, head), cbr(head, head))
        self.hm = nn.Conv2d(head, NUM_JOINTS, 1)
        self.vis = nn.Conv2d(head, NUM_JOINTS, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (x / 255.0 - MEAN) / STD
        a = self.l1(self.stem(x))
        b = self.l2(a)
        c = self.l3(b)
        y = self.fuse2(F.interpolate(self.top3(c), scale_factor=2.0, mode="nearest") + b)
        y = self.fuse1(F.interpolate(self.top2(y), scale_factor=2.0, mode="nearest") + self.lat1(a))
        hm = self.hm(y)
        B, J, H, W = hm.shape
        att = torch.softmax(hm.detach().reshape(B, J, H * W) * 20.0, dim=-1)
        vis = (att * self.vis(y).reshape(B, J, H * W)).sum(-1)
        return hm, vis


def decode(hm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Heatmaps (B, J, h, w) -> (B, J, 2) crop-pixel (u, v) and the peak values (B, J).

    Argmax, refined to sub-cell precision by a parabola through the log-heatmap's
    neighbours along each axis (exact for a Gaussian blob).
    """
    B, J, H, W = hm.shape
    flat = hm.reshape(B, J, H * W)
    peak, idx = flat.max(-1)
    y = torch.div(idx, W, rounding_mode="floor")
    x = idx - y * W
    lg = torch.log(torch.clamp(hm, min=1e-4))
    lg = F.pad(lg, (1, 1, 1, 1), mode="replicate")
    bi = torch.arange(B).view(B, 1).expand(B, J)
    ji = torch.arange(J).view(1, J).expand(B, J)
    yy, xx = y + 1, x + 1

    def at(dy: int, dx: int) -> torch.Tensor:
        return lg[bi, ji, yy + dy, xx + dx]

    c = at(0, 0)
    l_, r_, u_, d_ = at(0, -1), at(0, 1), at(-1, 0), at(1, 0)
    dxd = l_ - 2 * c + r_
    dyd = u_ - 2 * c + d_
    ox = torch.where(dxd < -1e-6, 0.5 * (l_ - r_) / dxd.clamp(max=-1e-6), torch.zeros_like(c)).clamp(-0.5, 0.5)
    oy = torch.where(dyd < -1e-6, 0.5 * (u_ - d_) / dyd.clamp(max=-1e-6), torch.zeros_like(c)).clamp(-0.5, 0.5)
    u = (x.float() + ox) * STRIDE + (STRIDE - 1) / 2
    v = (y.float() + oy) * STRIDE + (STRIDE - 1) / 2
    return torch.stack([u, v], -1), peak


SYMMETRIC_PAIRS = ((7, 8), (9, 10))  # the arms: where the network collapses twins (measured); legs and face it does not


def separate_pairs(hm: torch.Tensor, uv: torch.Tensor, peak: torch.Tensor, near_cells: float = 1.5,
                   suppress_cells: float = 2.0, second_frac: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """Split left/right twins that decoded onto one spot.

    Seen from above, the network often cannot say which wrist is the left one, and both heatmaps
    then peak on the same, stronger wrist, leaving the other hand unmarked. Where a pair's two
    points nearly coincide and the pair's combined heatmap has a second clear peak away from
    them, the pair takes both peaks, split the way the two heatmaps agree with best.
    """
    B, J, H, W = hm.shape
    uv, peak = uv.clone(), peak.clone()
    if B == 0:
        return uv, peak
    ys = torch.arange(H, dtype=hm.dtype).view(1, H, 1)
    xs = torch.arange(W, dtype=hm.dtype).view(1, 1, W)
    bi = torch.arange(B)
    for a, b in SYMMETRIC_PAIRS:
        cell_a = (uv[:, a] - (STRIDE - 1) / 2) / STRIDE
        cell_b = (uv[:, b] - (STRIDE - 1) / 2) / STRIDE
        close = (cell_a - cell_b).norm(dim=-1) < near_cells
        if not bool(close.any()):
            continue
        both = torch.maximum(hm[:, a], hm[:, b])
        c = (cell_a + cell_b) / 2
        far = (ys - c[:, 1].view(B, 1, 1)) ** 2 + (xs - c[:, 0].view(B, 1, 1)) ** 2 > suppress_cells ** 2
        v2, idx2 = torch.where(far, both, torch.zeros_like(both)).reshape(B, -1).max(-1)
        y2 = torch.div(idx2, W, rounding_mode="floor")
        x2 = idx2 - y2 * W
        y1 = c[:, 1].round().long().clamp(0, H - 1)
        x1 = c[:, 0].round().long().clamp(0, W - 1)
        ok = close & (v2 >= second_frac * torch.maximum(peak[:, a], peak[:, b]))
        if not bool(ok.any()):
            continue
        # keep the split whose heatmaps agree best: a at the shared spot and b at the new peak, or the reverse
        keep_a = hm[bi, a, y1, x1] + hm[bi, b, y2, x2] >= hm[bi, a, y2, x2] + hm[bi, b, y1, x1]
        moved = torch.where(keep_a, torch.full_like(idx2, b), torch.full_like(idx2, a))
        new = torch.stack([x2.to(uv.dtype) * STRIDE + (STRIDE - 1) / 2, y2.to(uv.dtype) * STRIDE + (STRIDE - 1) / 2],
                          -1)
        rows = torch.nonzero(ok).flatten()
        uv[rows, moved[rows]] = new[rows]
        peak[rows, moved[rows]] = v2[rows]
    return uv, peak


def heatmap_targets(kp: torch.Tensor, sigma: float = 1.5, size: int = HEATMAP_SIZE) -> torch.Tensor:
    """Crop-pixel keypoints (B, J, 2) (NaN: none) -> Gaussian heatmaps (B, J, size, size), peak 1."""
    g = (kp - (STRIDE - 1) / 2) / STRIDE
    r = torch.arange(size, dtype=kp.dtype, device=kp.device)
    gx = torch.exp(-((r.view(1, 1, -1) - g[..., 0:1]) ** 2) / (2 * sigma ** 2))
    gy = torch.exp(-((r.view(1, 1, -1) - g[..., 1:2]) ** 2) / (2 * sigma ** 2))
    t = gy.unsqueeze(-1) * gx.unsqueeze(-2)
    return torch.nan_to_num(t, nan=0.0)


def num_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
