"""Product recognition in hands: crops around 3D hand points, scored against catalog images.

    clf = ProductClassifier(catalog.root, catalog)          # committed weights/products_v1.pt
    hc = hand_crops(rgb, cam, wrists3d, elbows3d=elbows3d)  # HandCrops: images, inside, uv, side_px
    p = clf.scores(list(hc.images), ["sku-cola", "sku-lime"])  # (n, 2) probabilities, rows sum to 1

Scores are a softmax over the *candidates* of the learned scale x cosine similarity between
a crop's embedding and each candidate's catalog embedding (its first image, as the
simulator draws it in hands). The candidates are whatever the caller cannot tell apart by
weight and place (typically a look-alike family); any catalog works without retraining.
A crop where the product is not visible still gets a distribution (near uniform at best):
combine with the other evidence, do not read it alone.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from data.cameras import Camera
from data.errors import InputError
from data.store import Catalog
from engine.nn_blocks import as_rgb
from engine.products.model import (
    ARCH,
    CROP_M,
    HAND_OFFSET_M,
    INPUT_SIZE,
    ProductNet,
    catalog_input,
    crop_at,
)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "products_v1.pt"
MIN_SIDE_PX = 8.0


class ProductWeightsError(InputError):
    """The product classifier's weights file is missing or not a walkout product model."""


class CatalogImageError(InputError):
    """A catalog image named in catalog.json cannot be read."""


def load_net(weights: Path | None = None) -> tuple[ProductNet, dict]:
    """The network (eval mode) and the info stored with its weights; ProductWeightsError if unusable."""
    path = Path(weights) if weights is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise ProductWeightsError(f"product weights not found: {path} (train them with `walkout train products`)")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(ck, dict) or not str(ck.get("format", "")).startswith("walkout-products/"):
            raise ValueError("not a walkout product model (no 'format: walkout-products/...')")
        arch = ck.get("arch", ARCH)
        net = ProductNet(tuple(arch["widths"]), int(arch["embed"]))
        net.load_state_dict(ck["state_dict"])
    except Exception as e:  # pickle, zip, key and shape errors all mean the same to the user
        raise ProductWeightsError(f"product weights {path} cannot be loaded: {type(e).__name__}: {e}") from None
    net.eval()
    return net, ck.get("info", {})


@dataclass
class HandCrops:
    """Crops around hands: images (N, 64, 64, 3) uint8 RGB; inside (N,): the hand point projects into
    the image (a crop of a hand outside it is mostly black); uv (N, 2) crop centres in image pixels
    (NaN when not projectable); side_px (N,) crop sides in image pixels."""
    images: np.ndarray
    inside: np.ndarray
    uv: np.ndarray
    side_px: np.ndarray


def hand_crops(rgb: np.ndarray, cam: Camera, points3d: np.ndarray, size_px: float | Sequence[float] | None = None,
               elbows3d: np.ndarray | None = None, crop_m: float = CROP_M) -> HandCrops:
    """Crops around 3D hand (wrist) points, as the classifier was trained on.

    The held product is drawn a little beyond the hand, so the crop is generous: crop_m metres at
    the point's depth (size_px overrides it, in image pixels) and, when the elbows are given,
    centred HAND_OFFSET_M beyond the wrist along the forearm. Black beyond the image border.
    """
    P = np.asarray(points3d, float).reshape(-1, 3)
    n = len(P)
    C = P.copy()
    if elbows3d is not None:
        E = np.asarray(elbows3d, float).reshape(-1, 3)
        if len(E) != n:
            raise ValueError(f"hand_crops: {n} hand points but {len(E)} elbows")
        fa = P - E
        nrm = np.linalg.norm(fa, axis=1, keepdims=True)
        ok = np.isfinite(nrm[:, 0]) & (nrm[:, 0] > 1e-6)
        C[ok] = P[ok] + HAND_OFFSET_M * fa[ok] / nrm[ok]
    images = np.zeros((n, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    uv = np.full((n, 2), np.nan)
    side = np.zeros(n)
    inside = np.zeros(n, bool)
    if n == 0:
        return HandCrops(images, inside, uv, side)
    fin = np.isfinite(C).all(1)
    z = np.where(fin, cam.to_camera(np.where(fin[:, None], C, 0.0))[:, 2], np.nan)
    ok = fin & (z > 0.05)
    if ok.any():
        uv[ok] = cam.project(C[ok])
        hand_uv = cam.project(np.where(np.isfinite(P), P, 0.0))
        inside = ok & cam.in_image(hand_uv) & np.isfinite(uv).all(1)
    f = float((cam.K[0, 0] + cam.K[1, 1]) / 2)
    if size_px is None:
        side = np.where(ok, crop_m * f / np.where(ok, z, 1.0), 0.0)
    else:
        side = np.broadcast_to(np.asarray(size_px, float), (n,)).copy()
    side = np.maximum(side, MIN_SIDE_PX)
    img = as_rgb(rgb)
    for i in np.flatnonzero(ok & np.isfinite(uv).all(1)):
        images[i] = crop_at(img, float(uv[i, 0]), float(uv[i, 1]), float(side[i]))[0]
    return HandCrops(images, inside, uv, side)


class ProductClassifier:
    """The product embedding with a catalog's images, ready to score in-hand crops.

    catalog_root: the catalog/ directory (image paths in catalog.json are relative to it);
    threads: torch's CPU thread count is set to this (process-wide) when > 0.
    """

    def __init__(self, catalog_root: Path, catalog: Catalog, weights: Path | None = None, threads: int = 1,
                 batch_size: int = 128) -> None:
        if threads and threads > 0:
            torch.set_num_threads(int(threads))
        self.net, self.info = load_net(weights)
        self.root = Path(catalog_root)
        self.catalog = catalog
        self.batch_size = int(batch_size)
        self._proto: dict[str, torch.Tensor] = {}
        self._embed_skus([p.sku for p in catalog.products])

    def _picture(self, sku: str) -> np.ndarray:
        p = self.catalog.by_sku[sku]
        if not p.images:
            raise CatalogImageError(f"catalog: product {sku} has no image")
        path = self.root / p.images[0]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise CatalogImageError(f"catalog: image of {sku} cannot be read: {path}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

    def _embed_skus(self, skus: Sequence[str]) -> None:
        todo = [s for s in dict.fromkeys(skus) if s not in self._proto]
        if todo:
            e = self._embed(np.stack([catalog_input(self._picture(s)) for s in todo]))
            self._proto.update(zip(todo, e))

    @torch.inference_mode()
    def _embed(self, imgs: np.ndarray) -> torch.Tensor:
        out = []
        for i in range(0, len(imgs), self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(imgs[i:i + self.batch_size])).permute(0, 3, 1, 2).float()
            out.append(self.net(x))
        return torch.cat(out) if out else torch.zeros(0, int(ARCH["embed"]))

    def embed_crops(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """(n, EMBED_DIM) unit embeddings of 64x64 crops (other sizes are resized)."""
        arr = [c if c.shape[:2] == (INPUT_SIZE, INPUT_SIZE) else
               cv2.resize(c, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA) for c in map(as_rgb, crops)]
        if not arr:
            return np.zeros((0, int(ARCH["embed"])), np.float32)
        return self._embed(np.stack(arr)).numpy()

    def scores(self, crops: Sequence[np.ndarray] | np.ndarray, candidates: Sequence[str]) -> np.ndarray:
        """(len(crops), len(candidates)) probabilities over the candidate SKUs (rows sum to 1)."""
        return self.probabilities(self.similarities(crops, candidates))

    def probabilities(self, cos: np.ndarray) -> np.ndarray:
        """Each row of `similarities` as probabilities over its candidates (the learned scale's softmax)."""
        with torch.inference_mode():
            return torch.softmax(self.net.scale() * torch.from_numpy(cos), dim=1).numpy().astype(np.float32)

    def similarities(self, crops: Sequence[np.ndarray] | np.ndarray, candidates: Sequence[str]) -> np.ndarray:
        """(len(crops), len(candidates)) cosine similarity of each crop to each candidate's catalog picture: near
        1 where the crop shows that product, far lower where it shows none of them (an empty or hidden hand)."""
        return self.cosines(self.embed_crops(crops), candidates)

    def cosines(self, embeddings: np.ndarray, candidates: Sequence[str]) -> np.ndarray:
        """`similarities` of crops already embedded (`embed_crops`): one crop's embedding serves any candidates."""
        cands = list(candidates)
        unknown = [s for s in cands if s not in self.catalog.by_sku]
        if unknown:
            raise InputError(f"product scores: unknown SKU(s) {', '.join(unknown)}: not in the catalog")
        if not cands:
            raise InputError("product scores: no candidate SKUs")
        self._embed_skus(cands)
        E = torch.from_numpy(np.asarray(embeddings, np.float32))
        if not len(E):
            return np.zeros((0, len(cands)), np.float32)
        P = torch.stack([self._proto[s] for s in cands])
        with torch.inference_mode():
            return (E @ P.T).numpy().astype(np.float32)
