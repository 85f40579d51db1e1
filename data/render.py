"""Per-camera rendering of the synthetic store: colour and depth frames from a World.

Why this shape: 6 cameras x 15 fps must render and encode faster than real
time on 2 cores, so everything static (floor, shelves, bin openings) is ray
cast once per camera, bins are recoloured only when their stock changes, and
people are cheap articulated figures drawn with cv2 into a small
colour+depth layer that is depth-tested against the background.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from data.cameras import Camera
from data.store import Bin, Catalog, Store
from data.video_io import ColourWriter, DepthWriter, time_to_pts
from data.world import (L_ANKLE, L_EAR, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, NOSE, R_ANKLE, R_EAR,
                        R_ELBOW, R_HIP, R_KNEE, R_SHOULDER, R_WRIST, World)

FAR = 65535  # "nothing here" in the uint16 depth-test buffers
MAX_RANGE_M = 20.0  # depth beyond this reads 0 (unknown), like a real sensor
LIGHT = np.array([0.3, 0.45, 1.0]) / np.linalg.norm([0.3, 0.45, 1.0])

FLOOR_RGB = np.array([206, 201, 190], float)
GROUT_RGB = np.array([168, 163, 155], float)
WALL_RGB = np.array([58, 56, 62], float)
CEILING_RGB = np.array([44, 44, 50], float)
SHELF_RGB = np.array([178, 182, 190], float)
SHELF_EDGE_RGB = np.array([110, 112, 120], float)
BIN_INSIDE_RGB = np.array([46, 44, 48], float)
GATE_TINT = {"entry": np.array([70, 190, 95], float), "exit": np.array([205, 70, 70], float)}
TILE_M = 0.6

COLOUR_NOISE_SD = 2.0  # grey levels, per pixel
DEPTH_NOISE_SD = 3.0  # mm, per 8x8 block: spatially correlated like a structured-light sensor, and
DEPTH_NOISE_BLOCK = 8  # it keeps FFV1 files ~3x smaller than per-pixel noise would
NOISE_BANK = 4
NOISE_PAD = 16


# -- static background ---------------------------------------------------------------------

def _slab(C: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ray/box entry distance (inf on a miss) and the entry face's axis, for rays d (N, 3) from C."""
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        t1, t2 = (lo - C) * inv, (hi - C) * inv
    tn, tf = np.fmin(t1, t2), np.fmax(t1, t2)
    axis = np.argmax(tn, axis=1)
    t_in = tn.max(axis=1)
    t_out = tf.min(axis=1)
    hit = (t_in <= t_out) & (t_in > 1e-6)
    return np.where(hit, t_in, np.inf), axis


def _in_polygon(x: np.ndarray, y: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon for many points."""
    inside = np.zeros(x.shape, bool)
    n = len(poly)
    for i in range(n):
        (x0, y0), (x1, y1) = poly[i], poly[(i + 1) % n]
        if y0 == y1:
            continue
        cross = (y0 > y) != (y1 > y)
        xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= cross & (x < xc)
    return inside


def _roi(camera: Camera, corners: np.ndarray, margin: int = 12) -> tuple[slice, slice] | None:
    """Pixel rows/cols that can see a convex world shape (corners (N, 3)); None: the whole image."""
    pts = np.asarray(corners, float)
    # sample the edges between all corner pairs so that lens distortion cannot bulge past the box
    a, b = pts[:, None, :], pts[None, :, :]
    w = np.linspace(0, 1, 9)[:, None, None, None]
    samples = ((1 - w) * a + w * b).reshape(-1, 3)
    z = camera.to_camera(samples)[:, 2]
    if np.any(z <= 0.05):
        return slice(0, camera.height), slice(0, camera.width)
    uv = camera.project(samples)
    if not np.isfinite(uv).all():  # part of the shape lies far outside the field of view
        return slice(0, camera.height), slice(0, camera.width)
    u0, v0 = np.floor(uv.min(0)).astype(int) - margin
    u1, v1 = np.ceil(uv.max(0)).astype(int) + margin
    u0, v0, u1, v1 = max(u0, 0), max(v0, 0), min(u1, camera.width), min(v1, camera.height)
    if u0 >= u1 or v0 >= v1:
        return None
    return slice(v0, v1), slice(u0, u1)


def _box_corners(lo, hi) -> np.ndarray:
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def _shade(normal: np.ndarray) -> np.ndarray:
    """Lambert with ambient: how bright a surface facing `normal` (N, 3) is under the ceiling lights."""
    return 0.58 + 0.42 * np.clip(normal @ LIGHT, 0, 1)


def _load_image(catalog: Catalog, sku: str) -> np.ndarray:
    """The product's first image as RGB; a flat colour from the sku if it cannot be read."""
    try:
        img = cv2.imread(str(catalog.image_path(sku)), cv2.IMREAD_COLOR)
    except (KeyError, IndexError):
        img = None
    if img is None:
        h = sum(sku.encode()) * 2654435761 % 2 ** 24
        return np.full((60, 40, 3), (h & 255, (h >> 8) & 255, (h >> 16) & 255), np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@dataclass
class _BinView:
    """One bin's visible opening pixels in one camera and how its product tiles map onto them."""
    bin: Bin
    idx: np.ndarray  # flat pixel indices
    slot: np.ndarray  # tile slot under each pixel (-1: between tiles / above them)
    tex: np.ndarray  # (N, 3) colour of the product tile under each pixel (valid where slot >= 0)
    inside_rgb: np.ndarray  # (N, 3) colour when the slot is empty
    face_mm: np.ndarray  # depth of the opening face
    inside_mm: np.ndarray  # depth through an empty slot
    n_fit: int


class Background:
    """The static scene as one camera sees it: shaded colour, depth, and the bin openings' pixels."""

    def __init__(self, store: Store, catalog: Catalog, camera: Camera) -> None:
        H, W = camera.height, camera.width
        d = camera.pixel_rays().reshape(-1, 3)
        C = camera.center
        cosz = d @ camera.R[2]  # metres along the ray -> metres along the camera's z axis
        n = len(d)
        t_best = np.full(n, np.inf)
        rgb = np.tile(CEILING_RGB, (n, 1))  # rays that hit nothing (above the horizon)

        # floor
        with np.errstate(divide="ignore"):
            tf = np.where(d[:, 2] < -1e-9, -C[2] / d[:, 2], np.inf)
        fl = np.isfinite(tf)
        p = C + tf[fl, None] * d[fl]
        rgb[fl] = self._floor_colour(store, p[:, 0], p[:, 1])
        t_best[fl] = tf[fl]

        # shelves: solid boxes, shaded by face normal, darker along their edges
        for s in store.shelves:
            lo, hi = np.asarray(s.min, float), np.asarray(s.max, float)
            roi = _roi(camera, _box_corners(lo, hi))
            if roi is None:
                continue
            sub = np.arange(n).reshape(H, W)[roi].ravel()
            ts, axis = _slab(C, d[sub], lo, hi)
            near = ts < t_best[sub]
            if not near.any():
                continue
            k, ts, axis = sub[near], ts[near], axis[near]
            dk = d[k]
            normal = np.zeros((len(k), 3))
            normal[np.arange(len(k)), axis] = -np.sign(dk[np.arange(len(k)), axis])
            ph = C + ts[:, None] * dk
            edge = np.zeros(len(k), bool)
            for ax in range(3):
                e = (np.minimum(ph[:, ax] - lo[ax], hi[ax] - ph[:, ax]) < 0.015) & (axis != ax)
                edge |= e
            base = np.where(edge[:, None], SHELF_EDGE_RGB, SHELF_RGB)
            rgb[k] = base * _shade(normal)[:, None]
            t_best[k] = ts

        views: list[_BinView] = []
        images = {sku: _load_image(catalog, sku) for sku in {b.sku for b in store.bins}}
        for b in store.bins:
            view = self._bin_view(store, b, camera, C, d, cosz, t_best, images[b.sku])
            if view is not None:
                views.append(view)
                t_best[view.idx] = view.face_mm / 1000.0 / np.maximum(cosz[view.idx], 1e-9)
        # a pixel on the edge between two openings belongs to one bin only (the last one that saw it)
        owner = np.full(n, -1)
        for i, v in enumerate(views):
            owner[v.idx] = i
        self.bins: list[_BinView] = []
        for i, v in enumerate(views):
            keep = owner[v.idx] == i
            if keep.any():
                v = _BinView(v.bin, v.idx[keep], v.slot[keep], v.tex[keep], v.inside_rgb[keep], v.face_mm[keep],
                             v.inside_mm[keep], v.n_fit)
                self.bins.append(v)
                rgb[v.idx] = v.inside_rgb  # until the renderer applies the stock

        z_mm = t_best * cosz * 1000.0
        known = np.isfinite(z_mm) & (z_mm > 0.5) & (z_mm < MAX_RANGE_M * 1000)
        depth = np.where(known, np.round(z_mm), 0).astype(np.uint16)
        self.rgb = np.clip(rgb, 0, 255).astype(np.uint8).reshape(H, W, 3)
        self.depth = depth.reshape(H, W)
        self.has_unknown = bool((depth == 0).any())

    @staticmethod
    def _floor_colour(store: Store, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Light tiles with grout lines, soft pools of light, gate zones tinted, outside the floor dark."""
        ix, iy = np.floor(x / TILE_M), np.floor(y / TILE_M)
        fx, fy = x / TILE_M - ix, y / TILE_M - iy
        grout = (np.minimum(fx, 1 - fx) < 0.012 / TILE_M) | (np.minimum(fy, 1 - fy) < 0.012 / TILE_M)
        checker = ((ix + iy) % 2 == 0)[:, None] * 7.0
        col = np.where(grout[:, None], GROUT_RGB, FLOOR_RGB - checker)
        for g in store.gates:
            (x0, y0), (x1, y1) = g.zone
            inz = (x >= min(x0, x1)) & (x <= max(x0, x1)) & (y >= min(y0, y1)) & (y <= max(y0, y1))
            tint = GATE_TINT.get(g.kind, GATE_TINT["entry"])
            col[inz] = 0.45 * col[inz] + 0.55 * tint
        pools = 0.92 + 0.08 * np.cos(2 * np.pi * x / 3.0) * np.cos(2 * np.pi * y / 3.0)
        col = col * pools[:, None] * _shade(np.array([[0.0, 0.0, 1.0]]))[0]
        outside = ~_in_polygon(x, y, np.asarray(store.floor, float))
        col[outside] = WALL_RGB
        return col

    @staticmethod
    def _bin_view(store: Store, b: Bin, camera: Camera, C, d, cosz, t_best, image) -> _BinView | None:
        """Pixels that see the bin's opening (snapped onto its shelf's face when recessed), and their texture."""
        centre, along, up = store.opening(b)
        f3 = np.array([*store.facing(b), 0.0])
        axis = int(np.argmax(np.abs(f3[:2])))
        shelf = store.shelf_by_id[b.shelf]
        face = shelf.max[axis] if f3[axis] > 0 else shelf.min[axis]
        depth_in = abs(b.max[axis] - b.min[axis])
        if (face - centre[axis]) * np.sign(f3[axis]) > 0:  # opening behind the shelf's face: show it on the face
            centre = centre.copy()
            centre[axis] = face
        right = np.cross(-f3, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        half_w, half_h = float(np.linalg.norm(along)), float(np.linalg.norm(up))
        corners = np.array([centre + sx * half_w * right + sz * half_h * np.array([0, 0, 1.0])
                            for sx in (-1, 1) for sz in (-1, 1)])
        roi = _roi(camera, corners)
        if roi is None:
            return None
        H, W = camera.height, camera.width
        sub = np.arange(len(d)).reshape(H, W)[roi].ravel()
        ds = d[sub]
        den = ds @ f3
        ok = den < -1e-6  # the ray comes from the aisle side
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(ok, ((centre - C) @ f3) / den, np.inf)
        ph = C + np.where(ok, t, 0.0)[:, None] * ds
        s = (ph - centre) @ right / half_w
        r = (ph[:, 2] - centre[2]) / half_h
        ok &= (np.abs(s) <= 1) & (np.abs(r) <= 1) & (t > 0) & (t <= t_best[sub] * (1 + 1e-6) + 1e-4)
        if not ok.any():
            return None
        k, t, s, r, ds = sub[ok], t[ok], s[ok], r[ok], ds[ok]
        wo, ho = 2 * half_w, 2 * half_h
        # product tiles: bottom-aligned, side by side, small enough that the bin's initial stock fits in
        # one row when it can (so that most takes show), but never under 40 % of the opening's height
        ih, iw = image.shape[:2]
        tile_h = float(np.clip(wo / (max(b.stock, 1) * 1.06) * ih / iw, 0.4 * ho, 0.86 * ho))
        tile_w = tile_h * iw / ih
        if tile_w > 0.95 * wo:
            tile_w = 0.95 * wo
            tile_h = tile_w * ih / iw
        n_fit = max(1, int(wo // (tile_w * 1.06)))
        pitch = wo / n_fit
        x_in = (s + 1) / 2 * wo
        y_in = (1 - r) / 2 * ho  # from the top
        slot = np.minimum((x_in // pitch).astype(int), n_fit - 1)
        lx = x_in - slot * pitch - (pitch - tile_w) / 2
        ly = y_in - (ho - 0.02 * ho - tile_h)
        on_tile = (lx >= 0) & (lx < tile_w) & (ly >= 0) & (ly < tile_h)
        # pre-shrink the image to about the on-screen tile size so that sampling does not alias
        ppm = np.sqrt(len(k) / (wo * ho))
        tw, th = max(4, int(tile_w * ppm * 1.5)), max(4, int(tile_h * ppm * 1.5))
        small = cv2.resize(image, (min(tw, iw), min(th, ih)), interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        tx = np.clip((lx / tile_w * sw).astype(int), 0, sw - 1)
        ty = np.clip((ly / tile_h * sh).astype(int), 0, sh - 1)
        shade = _shade(f3[None])[0]
        tex = small[ty, tx].astype(float) * shade
        # looking through an empty slot: the bin's back wall or floor, darker further in
        with np.errstate(divide="ignore", invalid="ignore"):
            t_back = t + depth_in / np.maximum(-(ds @ f3), 1e-6)
            t_floor = np.where(ds[:, 2] < -1e-6, (b.min[2] - C[2]) / ds[:, 2], np.inf)
            t_ceil = np.where(ds[:, 2] > 1e-6, (b.max[2] - C[2]) / ds[:, 2], np.inf)
        t_inside = np.minimum(t_back, np.minimum(t_floor, t_ceil))
        t_inside = np.maximum(t_inside, t)
        dark = 1.0 - 0.45 * np.clip((t_inside - t) / max(depth_in, 1e-3), 0, 1)
        inside_rgb = BIN_INSIDE_RGB * (0.8 + 0.4 * (1 - y_in / ho))[:, None] * dark[:, None]
        cz = cosz[k]
        return _BinView(bin=b, idx=k, slot=np.where(on_tile, slot, -1), tex=tex, inside_rgb=inside_rgb,
                        face_mm=t * cz * 1000.0, inside_mm=t_inside * cz * 1000.0, n_fit=n_fit)


# -- people ------------------------------------------------------------------------------------

# extra points per person after the 17 COCO joints
NECK, PELVIS, MID, HEAD, HAIR, L_HAND, R_HAND, L_HEEL, R_HEEL, L_TOE, R_TOE = range(17, 28)
N_POINTS = 28

# the figure, as cv2 can draw it: (kind, point a, point b, radius m at 1.75 m tall, colour, outlined);
# "cap" is a thick line with round ends, "dot" a filled circle; plus one filled torso polygon
_PARTS: tuple[tuple[str, int, int, float, str, bool], ...] = (
    ("cap", NECK, MID, 0.14, "shirt", True),
    ("cap", MID, PELVIS, 0.13, "shirt", True),
    ("cap", L_SHOULDER, R_SHOULDER, 0.07, "shirt", False),
    ("cap", L_HIP, R_HIP, 0.085, "trousers", False),
    ("cap", L_HIP, L_KNEE, 0.075, "trousers", True),
    ("cap", R_HIP, R_KNEE, 0.075, "trousers", True),
    ("cap", L_KNEE, L_ANKLE, 0.055, "trousers", False),
    ("cap", R_KNEE, R_ANKLE, 0.055, "trousers", False),
    ("cap", L_HEEL, L_TOE, 0.045, "shoes", False),
    ("cap", R_HEEL, R_TOE, 0.045, "shoes", False),
    ("cap", L_SHOULDER, L_ELBOW, 0.05, "shirt", True),
    ("cap", R_SHOULDER, R_ELBOW, 0.05, "shirt", True),
    ("cap", L_ELBOW, L_WRIST, 0.037, "skin", False),
    ("cap", R_ELBOW, R_WRIST, 0.037, "skin", False),
    ("dot", L_HAND, L_HAND, 0.045, "skin", False),
    ("dot", R_HAND, R_HAND, 0.045, "skin", False),
    ("dot", HEAD, HEAD, 0.1, "skin", True),
    ("dot", HAIR, HAIR, 0.088, "hair", False),
)
_TORSO = np.array([L_SHOULDER, R_SHOULDER, R_HIP, L_HIP])
_COLOURS = ("shirt", "trousers", "skin", "hair", "shoes")
_P_A = np.array([p[1] for p in _PARTS])
_P_B = np.array([p[2] for p in _PARTS])
_P_R = np.array([p[3] for p in _PARTS])
_P_DOT = [p[0] == "dot" for p in _PARTS]
_P_COL = [_COLOURS.index(p[4]) for p in _PARTS]
_P_OUT = [p[5] for p in _PARTS]
_N_PARTS = len(_PARTS) + 1  # + the torso polygon, drawn as part index len(_PARTS)
OUTLINE_DARK = 0.72
HELD_SIZE_M = (0.07, 0.12)
SHIFT = 3  # cv2 sub-pixel bits: figures move smoothly instead of jumping whole pixels
ONE = 1 << SHIFT
MAX_PX = 2000.0  # a body part right in front of the lens: cap its size (cv2's thickness limit)


def body_points(joints: np.ndarray, height_m: np.ndarray) -> np.ndarray:
    """(P, 17, 3) COCO joints -> (P, N_POINTS, 3): the joints plus the points the figure is drawn from."""
    J = np.asarray(joints, float)
    P = len(J)
    out = np.empty((P, N_POINTS, 3))
    out[:, :17] = J
    s = (np.asarray(height_m, float) / 1.75)[:, None]
    lr = J[:, L_HIP] - J[:, R_HIP]
    fwd = np.stack([lr[:, 1], -lr[:, 0], np.zeros(P)], -1)  # (left - right) x up
    ears = (J[:, L_EAR] + J[:, R_EAR]) / 2
    head = np.where(np.isfinite(ears).all(1, keepdims=True), ears, J[:, NOSE])
    nf = np.linalg.norm(fwd, axis=1, keepdims=True)
    alt = J[:, NOSE] - head
    alt[:, 2] = 0
    alt /= np.maximum(np.linalg.norm(alt, axis=1, keepdims=True), 1e-9)
    fwd = np.where(nf > 1e-6, fwd / np.maximum(nf, 1e-9), alt)
    up = np.array([0.0, 0.0, 1.0])
    out[:, NECK] = (J[:, L_SHOULDER] + J[:, R_SHOULDER]) / 2
    out[:, PELVIS] = (J[:, L_HIP] + J[:, R_HIP]) / 2
    out[:, MID] = (out[:, NECK] + out[:, PELVIS]) / 2
    out[:, HEAD] = head
    out[:, HAIR] = head + s * (0.035 * up - 0.03 * fwd)
    for hand, wrist, elbow in ((L_HAND, L_WRIST, L_ELBOW), (R_HAND, R_WRIST, R_ELBOW)):
        fa = J[:, wrist] - J[:, elbow]
        fa /= np.maximum(np.linalg.norm(fa, axis=1, keepdims=True), 1e-6)
        out[:, hand] = J[:, wrist] + s * 0.055 * fa
    for heel, toe, ankle in ((L_HEEL, L_TOE, L_ANKLE), (R_HEEL, R_TOE, R_ANKLE)):
        a = J[:, ankle]
        out[:, heel] = a - s * 0.03 * fwd
        out[:, toe] = a + s * 0.14 * fwd
        out[:, heel, 2] = np.minimum(a[:, 2], 0.05 * s[:, 0])
        out[:, toe, 2] = np.minimum(a[:, 2], 0.04 * s[:, 0])
    return out


# -- the renderer ------------------------------------------------------------------------------

class CameraRenderer:
    """Renders one camera's frames from a World; deterministic given the seed and the frame time."""

    def __init__(self, store: Store, catalog: Catalog, camera: Camera, seed: int) -> None:
        self.store, self.catalog, self.camera, self.seed = store, catalog, camera, int(seed)
        H, W = camera.height, camera.width
        self.f = float((camera.K[0, 0] + camera.K[1, 1]) / 2)
        self.bg = Background(store, catalog, camera)
        self._rgb = self.bg.rgb.copy()  # background with the current stock applied
        self._depth = self.bg.depth.copy()
        self._ztest = np.where(self._depth == 0, FAR, self._depth).astype(np.uint16)
        self._stock: dict[int, int] = {}
        self._stock_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for i, v in enumerate(self.bg.bins):
            self._apply_stock(i, v.bin.stock)
        self._lc = np.zeros((H, W, 3), np.uint8)  # people layer: colour and depth (FAR: nobody)
        self._ld = np.full((H, W), FAR, np.uint16)
        self._images: dict[str, np.ndarray] = {}
        self._held_cache: dict[tuple[str, int, int], np.ndarray] = {}
        self._world = None
        self._t_prev: float | None = None
        rng = np.random.default_rng(self.seed)
        ph, pw = H + NOISE_PAD, W + NOISE_PAD
        self._noise = []
        for _ in range(NOISE_BANK):
            nz = np.round(rng.normal(0, COLOUR_NOISE_SD, (ph, pw, 3)))
            self._noise.append((np.clip(nz, 0, 255).astype(np.uint8), np.clip(-nz, 0, 255).astype(np.uint8)))
        self._dnoise = []
        blk = DEPTH_NOISE_BLOCK
        for _ in range(NOISE_BANK):
            nz = np.round(rng.normal(0, DEPTH_NOISE_SD, (ph // blk + 1, pw // blk + 1)))
            nz = np.repeat(np.repeat(nz, blk, 0), blk, 1)[:ph, :pw]
            self._dnoise.append((np.clip(nz, 0, None).astype(np.uint16), np.clip(-nz, 0, None).astype(np.uint16)))

    # -- stock ------------------------------------------------------------------------------
    def _apply_stock(self, i: int, stock: int) -> None:
        if self._stock.get(i) == stock:
            return
        key = (i, stock)
        if key not in self._stock_cache:
            v = self.bg.bins[i]
            full = (v.slot >= 0) & (v.slot < min(stock, v.n_fit))
            rgb = np.where(full[:, None], v.tex, v.inside_rgb)
            mm = np.where(full, v.face_mm, v.inside_mm)
            mm = np.where(mm < MAX_RANGE_M * 1000, np.round(mm), 0)
            self._stock_cache[key] = (np.clip(rgb, 0, 255).astype(np.uint8), mm.astype(np.uint16))
        rgb, mm = self._stock_cache[key]
        v = self.bg.bins[i]
        self._rgb.reshape(-1, 3)[v.idx] = rgb
        self._depth.reshape(-1)[v.idx] = mm
        self._ztest.reshape(-1)[v.idx] = np.where(mm == 0, FAR, mm)
        self._stock[i] = stock

    def _sync_stock(self, world: World, t: float) -> None:
        """Bring visible bins to their stock at t; only bins with a load change since the last frame."""
        if world is not self._world:
            self._world = world
            self._t_prev = None
            self._pidx = {p.id: i for i, p in enumerate(world.people)}
            row = {v.bin.id: i for i, v in enumerate(self.bg.bins)}
            ch = sorted((c.t, row[c.bin]) for c in getattr(world, "load_changes", ()) if c.bin in row)
            self._ch_t = np.array([c[0] for c in ch], float)
            self._ch_bin = np.array([c[1] for c in ch], int)
        if self._t_prev is None or t < self._t_prev:
            todo = range(len(self.bg.bins))
        else:
            k0, k1 = np.searchsorted(self._ch_t, [self._t_prev, t], side="right")
            todo = set(self._ch_bin[k0:k1].tolist())
        for i in todo:
            self._apply_stock(i, world.stock_at(self.bg.bins[i].bin.id, t))
        self._t_prev = t

    # -- people -----------------------------------------------------------------------------
    def _held_image(self, sku: str, w: int, h: int) -> np.ndarray:
        key = (sku, w, h)
        img = self._held_cache.get(key)
        if img is None:
            if sku not in self._images:
                self._images[sku] = _load_image(self.catalog, sku)
            img = cv2.resize(self._images[sku], (w, h), interpolation=cv2.INTER_AREA)
            if len(self._held_cache) > 512:
                self._held_cache.clear()
            self._held_cache[key] = img
        return img

    def _draw_people(self, world: World, t: float, rgb: np.ndarray, depth: np.ndarray) -> None:
        """Draw every person far-to-near into the colour+depth layer, then depth-test it into the frame."""
        J = world.joints_at(t)
        present = np.isfinite(J).all(axis=(1, 2))
        if not present.any():
            return
        cam, f = self.camera, self.f
        H, W = cam.height, cam.width
        who = np.flatnonzero(present)
        heights = np.array([world.people[i].appearance.height_m for i in who], float)
        pts = body_points(J[who], heights)  # (P, N, 3)
        z = cam.to_camera(pts)[..., 2]
        uv = cam.project(pts)
        # a person partly behind the camera (never, for a ceiling camera) or out of view is skipped
        s = heights / 1.75
        ok = np.isfinite(uv).all(axis=(1, 2)) & (z > 0.05).all(1)
        rmax = np.where(ok, f * 0.15 * s / np.where(ok, z.min(1), 1.0), 0.0)
        lo = np.where(ok[:, None], np.nan_to_num(uv.min(1)), 0) - rmax[:, None]
        hi = np.where(ok[:, None], np.nan_to_num(uv.max(1)), 0) + rmax[:, None]
        ok &= (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] < W) & (lo[:, 1] < H)
        rows = np.flatnonzero(ok)
        boxes = [(max(int(lo[r, 1]), 0), min(int(hi[r, 1]) + 2, H), max(int(lo[r, 0]), 0), min(int(hi[r, 0]) + 2, W))
                 for r in rows]
        # per part: depth (front surface, m) for the painter's order and the depth buffer; radius in pixels
        zr, sr = z[rows], s[rows][:, None]
        rm = _P_R[None] * sr
        zm = (zr[:, _P_A] + zr[:, _P_B]) / 2
        dep = np.concatenate([zm - rm, zr[:, _TORSO].mean(1, keepdims=True)], 1)  # (P, _N_PARTS)
        px = (f * rm / zm).tolist()
        ip = np.round(uv[rows] * ONE).astype(np.int32)
        ipl = ip.tolist()
        pal = []
        for r in rows:
            look = world.people[who[r]].appearance
            cols = [tuple(int(c) for c in getattr(look, k)) for k in _COLOURS]
            pal.append((cols, [tuple(int(c * OUTLINE_DARK) for c in col) for col in cols]))
        # held products: a billboard facing the camera a little beyond the holding hand
        held_items = []
        row_of = {int(who[r]): k for k, r in enumerate(rows)}
        for h in world.held_at(t):
            k = row_of.get(self._pidx.get(h.person, -1))
            if k is None:
                continue
            r = rows[k]
            wrist, hand = (L_WRIST, L_HAND) if h.hand == "left" else (R_WRIST, R_HAND)
            c3 = pts[r, wrist] + 1.8 * (pts[r, hand] - pts[r, wrist])
            zc = float(cam.to_camera(c3)[2])
            cuv = cam.project(c3)
            if zc > 0.05 and np.isfinite(cuv).all():
                held_items.append((zc - 0.04, float(cuv[0]), float(cuv[1]), f / zc, h.sku))
        n_body = dep.size
        all_dep = dep.ravel()
        if held_items:
            all_dep = np.concatenate([all_dep, [h[0] for h in held_items]])
        lc, ld = self._lc, self._ld
        for k in np.argsort(-all_dep, kind="stable").tolist():
            mm = int(min(max(all_dep[k] * 1000.0, 1.0), FAR - 1))
            if k >= n_body:
                _, cu, cv, scale, sku = held_items[k - n_body]
                box = self._draw_held(cu, cv, scale, sku, mm)
                if box is not None:
                    boxes.append(box)
                continue
            p, j = divmod(k, _N_PARTS)
            pp = ipl[p]
            cols, darks = pal[p]
            if j == len(_PARTS):
                c = cols[0]
                cv2.fillConvexPoly(lc, ip[p, _TORSO], c, cv2.LINE_8, SHIFT)
                cv2.fillConvexPoly(ld, ip[p, _TORSO], mm, cv2.LINE_8, SHIFT)
                continue
            c = cols[_P_COL[j]]
            if _P_DOT[j]:
                rad = max(1, int(min(px[p][j], MAX_PX) * ONE + 0.5))
                centre = pp[_P_A[j]]
                cv2.circle(ld, centre, rad, mm, -1, cv2.LINE_8, SHIFT)
                if _P_OUT[j]:
                    cv2.circle(lc, centre, rad, darks[_P_COL[j]], -1, cv2.LINE_8, SHIFT)
                    rad = max(1, int(rad * 0.78))
                cv2.circle(lc, centre, rad, c, -1, cv2.LINE_8, SHIFT)
            else:
                th = max(1, int(2 * min(px[p][j], MAX_PX) + 0.5))
                a, b = pp[_P_A[j]], pp[_P_B[j]]
                cv2.line(ld, a, b, mm, th, cv2.LINE_8, SHIFT)
                if _P_OUT[j]:
                    cv2.line(lc, a, b, darks[_P_COL[j]], th, cv2.LINE_8, SHIFT)
                    th = max(1, int(th * 0.62))
                cv2.line(lc, a, b, c, th, cv2.LINE_8, SHIFT)
        # depth test against the background (shelves hide people behind them), then clear the layer
        for y0, y1, x0, x1 in boxes:
            box_d = ld[y0:y1, x0:x1]
            m = cv2.compare(box_d, self._ztest[y0:y1, x0:x1], cv2.CMP_LT)
            cv2.copyTo(lc[y0:y1, x0:x1], m, rgb[y0:y1, x0:x1])
            cv2.copyTo(box_d, m, depth[y0:y1, x0:x1])
            lc[y0:y1, x0:x1] = 0
            box_d[...] = FAR

    def _draw_held(self, cu: float, cv: float, scale: float, sku: str, mm: int) -> tuple[int, int, int, int] | None:
        H, W = self._ld.shape
        w = max(2, int(round(HELD_SIZE_M[0] * scale)))
        h = max(2, int(round(HELD_SIZE_M[1] * scale)))
        x0, y0 = int(round(cu - w / 2)), int(round(cv - h / 2))
        xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, W), min(y0 + h, H)
        if xa >= xb or ya >= yb:
            return None
        img = self._held_image(sku, w, h)
        self._lc[ya:yb, xa:xb] = img[ya - y0:yb - y0, xa - x0:xb - x0]
        self._ld[ya:yb, xa:xb] = mm
        return ya, yb, xa, xb

    # -- frames -----------------------------------------------------------------------------
    def render(self, t: float, world: World, gain: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Colour (H, W, 3) uint8 RGB and depth (H, W) uint16 mm (0 unknown) at time t."""
        self._sync_stock(world, t)
        rgb = self._rgb.copy()
        depth = self._depth.copy()
        self._draw_people(world, t, rgb, depth)
        if gain != 1.0:
            cv2.convertScaleAbs(rgb, dst=rgb, alpha=float(gain))
        # sensor noise: a window of a pre-drawn noise frame, picked by the frame time (deterministic)
        h = (time_to_pts(t) * 2654435761 + self.seed * 40503 + 12345) & 0xFFFFFFFF
        H, W = rgb.shape[:2]
        k, dy, dx = h % NOISE_BANK, (h >> 8) % NOISE_PAD, (h >> 16) % NOISE_PAD
        pos, neg = self._noise[k]
        cv2.add(rgb, pos[dy:dy + H, dx:dx + W], dst=rgb)
        cv2.subtract(rgb, neg[dy:dy + H, dx:dx + W], dst=rgb)
        k, dy, dx = (h >> 24) % NOISE_BANK, (h >> 4) % NOISE_PAD, (h >> 12) % NOISE_PAD
        unknown = depth == 0 if self.bg.has_unknown else None
        pos, neg = self._dnoise[k]
        cv2.add(depth, pos[dy:dy + H, dx:dx + W], dst=depth)
        cv2.subtract(depth, neg[dy:dy + H, dx:dx + W], dst=depth)
        if unknown is not None:
            depth[unknown] = 0
        return rgb, depth


@dataclass
class StreamStats:
    """What writing one camera's streams cost (seconds, summed over frames)."""
    frames: int
    black: int
    render_s: float
    colour_s: float
    depth_s: float


def render_camera_streams(store: Store, catalog: Catalog, camera: Camera, world: World, times: np.ndarray,
                          black: np.ndarray, gains: np.ndarray, video_path: str | Path,
                          depth_path: str | Path | None, seed: int,
                          progress: Callable[[float], None] | None = None) -> StreamStats:
    """Render and encode one camera's whole colour (and depth) stream.

    `times` are the frame times (strictly increasing, to the millisecond); frames where `black`
    is set are a blackout (all-black colour, depth all 0); `gains` scale the light per frame.
    `progress(fraction done)` is called about every second of video and once with 1.0 at the end
    (it may cross a process boundary, so not after every frame).
    """
    times = np.asarray(times, float)
    black = np.broadcast_to(np.asarray(black, bool), times.shape)
    gains = np.broadcast_to(np.asarray(gains, float), times.shape)
    H, W = camera.height, camera.width
    renderer = CameraRenderer(store, catalog, camera, seed)
    zero_rgb = np.zeros((H, W, 3), np.uint8)
    zero_depth = np.zeros((H, W), np.uint16)
    t_render = t_colour = t_depth = 0.0
    every = max(1, int(round(camera.fps)))
    cw = ColourWriter(video_path, W, H, camera.fps)
    dw = DepthWriter(depth_path, W, H, camera.fps) if depth_path is not None else None
    try:
        for i, t in enumerate(times):
            a = time.perf_counter()
            if black[i]:
                rgb, depth = zero_rgb, zero_depth
            else:
                rgb, depth = renderer.render(float(t), world, float(gains[i]))
            b = time.perf_counter()
            cw.write(rgb, float(t))
            c = time.perf_counter()
            if dw is not None:
                dw.write(depth, float(t))
            d = time.perf_counter()
            t_render, t_colour, t_depth = t_render + b - a, t_colour + c - b, t_depth + d - c
            if progress is not None and ((i + 1) % every == 0 or i + 1 == len(times)):
                progress((i + 1) / len(times))
    finally:
        cw.close()
        if dw is not None:
            dw.close()
    return StreamStats(len(times), int(black.sum()), t_render, t_colour, t_depth)
