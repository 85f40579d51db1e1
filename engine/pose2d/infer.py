"""2D pose inference: person boxes in camera frames -> COCO-17 keypoints with scores.

    est = PoseEstimator()                       # the committed weights (weights/pose_v4.pt)
    kps = est.predict(rgb, [(x0, y0, x1, y1)])  # (N, 17, 3): u, v in image pixels, score 0..1
    per_frame = est.predict_batch([(rgb_a, boxes_a), (rgb_b, boxes_b)])

Each box (x1/y1 exclusive) is cut as a square crop of its longer side x CROP_PAD
around its centre, black beyond the image (boxes touching or crossing the
border are fine), resized to the network's input; crops from all frames of a
call are run together in batches. A box with no area gives score 0 for every
joint (u, v at the box's corner). The score is the network's visibility
estimate: near 1 for a joint it sees, low for a hidden one (whose u, v are then a
guess) or one outside the crop.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from engine.nn_blocks import as_rgb
from engine.pose2d.model import ARCH, INPUT_SIZE, NUM_JOINTS, PoseNet, crop, decode, separate_pairs

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "pose_v4.pt"
Box = Sequence[float]


def default_weights() -> Path:
    """The committed weights, or WALKOUT_POSE_WEIGHTS: an engineer's override, to try a new network in the
    whole pipeline (process, evaluate, benchmarks) without committing it."""
    return Path(os.environ.get("WALKOUT_POSE_WEIGHTS", DEFAULT_WEIGHTS))


def load_net(weights: Path | None = None) -> tuple[PoseNet, dict]:
    """The network (eval mode) and the info stored with its weights."""
    path = Path(weights) if weights is not None else default_weights()
    if not path.is_file():
        raise FileNotFoundError(f"pose weights not found: {path} (train them with `walkout train pose`)")
    ck = torch.load(path, map_location="cpu", weights_only=True)
    arch = ck.get("arch", ARCH)
    net = PoseNet(tuple(arch["widths"]), int(arch["head"]))
    net.load_state_dict(ck["state_dict"])
    net.eval()
    return net, ck.get("info", {})


def fuse_bn(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm that directly follows a Conv2d (in a Sequential) into the conv (eval only)."""
    for name, child in module.named_children():
        if isinstance(child, nn.Sequential):
            mods = list(child)
            for i in range(len(mods) - 1):
                if isinstance(mods[i], nn.Conv2d) and isinstance(mods[i + 1], nn.BatchNorm2d):
                    child[i] = torch.nn.utils.fusion.fuse_conv_bn_eval(mods[i], mods[i + 1])
                    child[i + 1] = nn.Identity()
        fuse_bn(child)
    return module


class PoseEstimator:
    """The trained 2D pose network, ready for crops from camera frames.

    threads: torch's CPU thread count is set to this (it is process-wide) when > 0.
    """

    def __init__(self, weights: Path | None = None, threads: int = 1, batch_size: int = 64,
                 split_arms: bool = True) -> None:
        if threads and threads > 0:
            torch.set_num_threads(int(threads))
        net, self.info = load_net(weights)
        self.net = fuse_bn(net).to(memory_format=torch.channels_last)
        self.batch_size = int(batch_size)
        self.input_size = INPUT_SIZE
        self.split_arms = split_arms  # model.separate_pairs: arm twins decoded onto one hand are split

    @torch.inference_mode()
    def predict_crops(self, crops: np.ndarray) -> np.ndarray:
        """(N, 17, 3) crop-pixel u, v and score for uint8 crops (N, S, S, 3) as `model.crop` cuts them."""
        out = []
        for i in range(0, len(crops), self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(crops[i:i + self.batch_size])).permute(0, 3, 1, 2)
            x = x.float().contiguous(memory_format=torch.channels_last)
            hm, vis = self.net(x)
            uv, peak = decode(hm)
            if self.split_arms:
                uv, _ = separate_pairs(hm, uv, peak)
            out.append(torch.cat([uv, torch.sigmoid(vis)[..., None]], -1).numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, NUM_JOINTS, 3), np.float32)

    def predict(self, image_rgb: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """(len(boxes), 17, 3): u, v in image pixels and score 0..1, for person boxes (x0, y0, x1, y1)."""
        return self.predict_batch([(image_rgb, boxes)])[0]

    def predict_batch(self, items: Sequence[tuple[np.ndarray, Sequence[Box]]]) -> list[np.ndarray]:
        """predict() for many frames at once: every frame's crops go through the network together."""
        crops, maps, where, degenerate = [], [], [], []
        for f, (image, boxes) in enumerate(items):
            img = as_rgb(image)
            for b, box in enumerate(boxes):
                x0, y0, x1, y1 = (float(v) for v in box)
                if not np.isfinite([x0, y0, x1, y1]).all() or x1 <= x0 or y1 <= y0:
                    degenerate.append((f, b, x0, y0))
                    continue
                c, M, a = crop(img, (x0, y0, x1, y1))
                crops.append(c)
                maps.append((M, a))
                where.append((f, b))
        out = [np.zeros((len(boxes), NUM_JOINTS, 3), np.float32) for _, boxes in items]
        if crops:
            pred = self.predict_crops(np.stack(crops))
            for (f, b), (M, a), p in zip(where, maps, pred):
                # crop pixel i -> image u = a * i + bu (the inverse of M)
                out[f][b, :, 0] = a * p[:, 0] - M[0, 2] * a
                out[f][b, :, 1] = a * p[:, 1] - M[1, 2] * a
                out[f][b, :, 2] = p[:, 2]
        for f, b, x0, y0 in degenerate:
            out[f][b, :, 0] = x0 if np.isfinite(x0) else 0.0
            out[f][b, :, 1] = y0 if np.isfinite(y0) else 0.0
        return out
