"""Building blocks the engine's small CNNs share (the pose network and the product embedding)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def cbr(i: int, o: int, stride: int = 1, k: int = 3) -> nn.Sequential:
    """Conv, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(i, o, k, stride, k // 2, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class Res(nn.Module):
    """Basic residual block (two 3x3 convs), with a 1x1 projection when the shape changes."""

    def __init__(self, i: int, o: int, stride: int = 1) -> None:
        super().__init__()
        self.a = cbr(i, o, stride)
        self.b = nn.Sequential(nn.Conv2d(o, o, 3, 1, 1, bias=False), nn.BatchNorm2d(o))
        self.skip = None if (i == o and stride == 1) else nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False),
                                                                         nn.BatchNorm2d(o))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.b(self.a(x)) + (x if self.skip is None else self.skip(x)), inplace=True)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Any grey, RGB or RGBA image as contiguous uint8 (H, W, 3); ValueError on other shapes."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {img.shape}")
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


def save_weights(net: nn.Module, out: Path, fmt: str, arch: dict[str, Any], info: dict[str, Any]) -> None:
    """Write a trained network as the engine's loaders read it: format, architecture, weights, training info."""
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    torch.save({"format": fmt, "arch": arch, "state_dict": state, "info": info}, out)
