"""The product embedding network and the crop geometry it is trained and used with.

Why an embedding and not a softmax over SKUs: a store's catalog changes (and a
new store has a catalog the network never saw), so the network maps both an
in-hand crop and a catalog image into one unit-length 64-d space, and a crop is
scored against the catalog images of a *candidate set* (e.g. the family members
whose weight fits) by cosine similarity over a learned temperature. A new
catalog only needs its images embedded; no retraining.

Geometry. The simulator draws a held product as a camera-facing billboard of
HELD_SIZE_M (0.07 x 0.12 m) a little beyond the hand. A crop is a square of
CROP_M metres at the hand's depth (so the product covers the same share of the
crop at every distance: ~12 x 21 pixels of the 64 x 64 input; only its
sharpness changes). A catalog image is turned into the same kind of input by
`catalog_input`: the picture shrunk to the billboard's size, centred on a grey
square, so the one network embeds both.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from data.render import HELD_SIZE_M
from engine.nn_blocks import Res, cbr
from engine.pose2d.model import crop as _box_crop

INPUT_SIZE = 64
CROP_M = 0.36  # crop side in metres at the crop centre's depth
HAND_OFFSET_M = 0.10  # the billboard's centre lies about this far beyond the wrist, along the forearm
EMBED_DIM = 64
MEAN, STD = 0.45, 0.25  # input normalisation (after /255)
CATALOG_BG = 128  # grey around a catalog picture in its network input
FEATURE_STRIDE = 8  # input pixels per attention cell
ARCH = {"name": "product-embed-v1", "widths": (16, 32, 64, 96), "embed": EMBED_DIM}


# -- crop geometry ---------------------------------------------------------------------------

def crop_at(image: np.ndarray, cu: float, cv: float, side_px: float,
            size: int = INPUT_SIZE) -> tuple[np.ndarray, np.ndarray, float]:
    """(crop uint8 (size, size, 3), M, a): the square of side_px image pixels centred on (cu, cv).

    Black beyond the image; M maps image pixels to crop pixels, a = image pixels per crop pixel
    (pixel centres at integer coordinates, as recording.md has them).
    """
    h = side_px / 2
    return _box_crop(image, (cu + 0.5 - h, cv + 0.5 - h, cu + 0.5 + h, cv + 0.5 + h), size, 1.0)


def billboard_px(size: int = INPUT_SIZE) -> tuple[float, float]:
    """Width and height (crop pixels) of a held product in a CROP_M crop."""
    return HELD_SIZE_M[0] / CROP_M * size, HELD_SIZE_M[1] / CROP_M * size


def catalog_input(image: np.ndarray, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0),
                  bg: int | tuple[int, int, int] = CATALOG_BG, size: int = INPUT_SIZE) -> np.ndarray:
    """A catalog picture (any size, RGB) as the network sees a held product: (size, size, 3) uint8.

    The picture is squeezed to the billboard's shape (as the renderer does) and scaled to its
    size in a crop, centred (plus `shift` pixels) on a flat background.
    """
    bw, bh = billboard_px(size)
    w, h = bw * scale, bh * scale
    x0 = (size - w) / 2 + shift[0]
    y0 = (size - h) / 2 + shift[1]
    # area-average first (a 96x128 picture becomes ~12x21 pixels), then place at sub-pixel accuracy
    small = cv2.resize(image, (max(1, int(round(w))), max(1, int(round(h)))), interpolation=cv2.INTER_AREA)
    M = np.array([[w / small.shape[1], 0.0, x0], [0.0, h / small.shape[0], y0]])
    out = np.empty((size, size, 3), np.uint8)
    out[:] = bg
    mask = cv2.warpAffine(np.full(small.shape[:2], 255, np.uint8), M, (size, size), flags=cv2.INTER_LINEAR)
    warped = cv2.warpAffine(small, M, (size, size), flags=cv2.INTER_LINEAR)
    a = mask[..., None].astype(np.float32) / 255.0
    return np.clip(warped * a + out * (1 - a) + 0.5, 0, 255).astype(np.uint8)


# -- the network ------------------------------------------------------------------------------

class ProductNet(nn.Module):
    """uint8-valued RGB inputs (B, 3, 64, 64) -> unit embeddings (B, EMBED_DIM).

    A compact ResNet down to 8 x 8, then *attention pooling* (a learned per-cell weight,
    softmaxed over the map) beside plain average pooling: the product fills a few percent
    of a crop, so the network must be able to look at it and ignore shelves, arms and floor.
    `logit_scale` is the learned inverse temperature of the cosine-similarity scores.
    """

    def __init__(self, widths: tuple[int, int, int, int] = ARCH["widths"], embed: int = ARCH["embed"]) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = cbr(3, w0, 2)  # /2
        self.l1 = Res(w0, w1, 2)  # /4
        self.l2 = Res(w1, w2, 2)  # /8
        self.l3 = Res(w2, w3, 1)
        self.att = nn.Conv2d(w3, 1, 1)
        self.head = nn.Sequential(nn.Linear(2 * w3, 128), nn.ReLU(inplace=True), nn.Linear(128, embed))
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(10.0))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed_and_attention(x)[0]

    def embed_and_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Unit embeddings (B, EMBED_DIM) and the attention logits (B, 8 * 8) over the feature map
        (training teaches the attention where the product is)."""
        x = (x / 255.0 - MEAN) / STD
        f = self.l3(self.l2(self.l1(self.stem(x))))
        flat = f.flatten(2)  # (B, C, HW)
        logits = self.att(f).flatten(1)  # (B, HW)
        w = torch.softmax(logits, dim=-1)[:, None]  # (B, 1, HW)
        pooled = torch.cat([(flat * w).sum(-1), flat.mean(-1)], 1)
        return F.normalize(self.head(pooled), dim=-1), logits

    def scale(self) -> torch.Tensor:
        """The inverse temperature (kept within 1..100)."""
        return self.logit_scale.exp().clamp(1.0, 100.0)


def attention_target(rects: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """(B, (size/8)^2) share of each attention cell covered by the product rectangle (x0, y0, x1, y1),
    normalised to sum 1 (uniform when the rectangle misses the crop)."""
    g = size // FEATURE_STRIDE
    edges = np.arange(g + 1) * FEATURE_STRIDE - 0.5
    r = np.asarray(rects, float).reshape(-1, 4)
    ox = np.clip(np.minimum(edges[None, 1:], r[:, 2:3]) - np.maximum(edges[None, :-1], r[:, 0:1]), 0, None)
    oy = np.clip(np.minimum(edges[None, 1:], r[:, 3:4]) - np.maximum(edges[None, :-1], r[:, 1:2]), 0, None)
    t = (oy[:, :, None] * ox[:, None, :]).reshape(len(r), -1)
    s = t.sum(1, keepdims=True)
    return np.where(s > 0, t / np.maximum(s, 1e-9), 1.0 / (g * g)).astype(np.float32)


def num_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
