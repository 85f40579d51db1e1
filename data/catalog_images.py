"""Procedural product pictures for the synthetic catalog (recording.md: catalog/images/).

Pictures are drawn, not loaded, so the simulator needs no asset files and the
same spec always gives the same pixels. A look-alike family shares shape,
layout, brand band and pattern; only the flavour colour and flavour word
differ, which is exactly the cue the engine must learn to read.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

W, H = 96, 128  # image width and height in pixels (portrait package front)
BACKGROUND = (240, 240, 240)
SHAPES = ("can", "bottle", "box", "bag", "jar", "bar", "carton", "cup", "tube")
PATTERNS = ("stripes", "dots", "wave", "chevron", "emblem", "rings")
VIEWS = ("front", "side")

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class ProductLook:
    """What a package looks like; siblings differ only in flavour and flavour_rgb."""
    sku: str
    brand: str  # short word drawn on the brand band (upper-cased, <= 8 letters reads well)
    flavour: str  # flavour word drawn under the pattern
    shape: str  # one of SHAPES
    brand_rgb: RGB  # band colour, shared by the family
    flavour_rgb: RGB  # body colour, one per flavour
    pattern: str = "stripes"  # one of PATTERNS, shared by the family
    size: str = ""  # e.g. "330 ml", drawn small at the bottom


def _ink(rgb: RGB) -> RGB:
    """Black or white, whichever reads better on rgb."""
    r, g, b = rgb
    return (20, 20, 20) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (250, 250, 250)


def _shade(rgb: RGB, f: float) -> RGB:
    """Darken (f < 1) or lighten (f > 1) a colour."""
    if f <= 1:
        return tuple(int(round(c * f)) for c in rgb)  # type: ignore[return-value]
    return tuple(int(round(c + (255 - c) * (f - 1))) for c in rgb)  # type: ignore[return-value]


def _silhouette(shape: str, w: int, h: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Package mask (h, w) uint8 and its label rectangle (x0, y0, x1, y1)."""
    m = np.zeros((h, w), np.uint8)
    cx = w // 2
    if shape == "can":
        x0, x1 = int(w * 0.16), int(w * 0.84)
        cv2.rectangle(m, (x0, 10), (x1, h - 10), 255, -1)
        cv2.ellipse(m, (cx, 10), ((x1 - x0) // 2, 5), 0, 0, 360, 255, -1)
        cv2.ellipse(m, (cx, h - 10), ((x1 - x0) // 2, 5), 0, 0, 360, 255, -1)
        return m, (x0, 16, x1, h - 16)
    if shape == "bottle":
        x0, x1 = int(w * 0.2), int(w * 0.8)
        cv2.rectangle(m, (cx - 8, 4), (cx + 8, 24), 255, -1)  # neck and cap
        pts = np.array([[cx - 8, 24], [cx + 8, 24], [x1, 46], [x1, h - 6], [x0, h - 6], [x0, 46]], np.int32)
        cv2.fillPoly(m, [pts], 255)
        return m, (x0, 48, x1, h - 10)
    if shape == "box":
        x0, x1 = int(w * 0.1), int(w * 0.9)
        cv2.rectangle(m, (x0, 6), (x1, h - 6), 255, -1)
        return m, (x0, 6, x1, h - 6)
    if shape == "bag":
        x0, x1 = int(w * 0.1), int(w * 0.9)
        cv2.rectangle(m, (x0 + 3, 12), (x1 - 3, h - 12), 255, -1)
        for y, sgn in ((12, -1), (h - 12, 1)):  # crimped seals
            xs = np.arange(x0, x1 + 1, 6)
            teeth = [[x, y + sgn * (7 if i % 2 else 3)] for i, x in enumerate(xs)]
            pts = np.array([[x0, y]] + teeth + [[x1, y]], np.int32)
            cv2.fillPoly(m, [pts], 255)
        return m, (x0 + 3, 14, x1 - 3, h - 14)
    if shape == "jar":
        x0, x1 = int(w * 0.12), int(w * 0.88)
        cv2.rectangle(m, (x0 + 8, 10), (x1 - 8, 26), 255, -1)  # lid
        cv2.rectangle(m, (x0, 26), (x1, h - 10), 255, -1)
        cv2.ellipse(m, (cx, h - 10), ((x1 - x0) // 2, 5), 0, 0, 180, 255, -1)
        return m, (x0, 30, x1, h - 12)
    if shape == "bar":
        y0, y1 = int(h * 0.22), int(h * 0.78)
        cv2.rectangle(m, (4, y0), (w - 5, y1), 255, -1)
        return m, (4, y0, w - 5, y1)
    if shape == "carton":
        x0, x1 = int(w * 0.14), int(w * 0.86)
        pts = np.array([[x0, 30], [cx, 8], [x1, 30]], np.int32)
        cv2.fillPoly(m, [pts], 255)
        cv2.rectangle(m, (cx - 4, 4), (cx + 4, 10), 255, -1)
        cv2.rectangle(m, (x0, 30), (x1, h - 6), 255, -1)
        return m, (x0, 30, x1, h - 6)
    if shape == "cup":
        pts = np.array([[6, 24], [w - 7, 24], [w - 16, h - 8], [15, h - 8]], np.int32)
        cv2.fillPoly(m, [pts], 255)
        cv2.rectangle(m, (3, 18), (w - 4, 24), 255, -1)  # lid rim
        return m, (12, 26, w - 13, h - 10)
    if shape == "tube":
        pts = np.array([[int(w * 0.1), 8], [int(w * 0.9), 8], [int(w * 0.68), h - 22], [int(w * 0.32), h - 22]],
                       np.int32)
        cv2.fillPoly(m, [pts], 255)
        cv2.rectangle(m, (cx - 11, h - 22), (cx + 11, h - 6), 255, -1)  # cap
        return m, (int(w * 0.22), 10, int(w * 0.78), h - 26)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def _fit_text(img: np.ndarray, text: str, x0: int, x1: int, y_mid: int, rgb: RGB, max_scale: float,
              thickness: int = 1) -> None:
    """Draw text centred in [x0, x1] around y_mid, shrunk until it fits."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max_scale
    while True:
        (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
        if tw <= (x1 - x0) - 4 or scale <= 0.2:
            break
        scale *= 0.9
    org = (x0 + ((x1 - x0) - tw) // 2, y_mid + th // 2)
    cv2.putText(img, text, org, font, scale, rgb, thickness, cv2.LINE_AA)


def _pattern(img: np.ndarray, kind: str, rect: tuple[int, int, int, int], rgb: RGB) -> None:
    """The family's decoration inside rect, in the flavour's darker tone."""
    x0, y0, x1, y1 = rect
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    if kind == "stripes":
        for x in range(x0 - (y1 - y0), x1, 10):
            cv2.line(img, (x, y1), (x + (y1 - y0), y0), rgb, 3, cv2.LINE_AA)
    elif kind == "dots":
        for j, y in enumerate(range(y0 + 4, y1 - 2, 9)):
            for x in range(x0 + 4 + (j % 2) * 5, x1 - 2, 10):
                cv2.circle(img, (x, y), 2, rgb, -1, cv2.LINE_AA)
    elif kind == "wave":
        xs = np.arange(x0, x1 + 1)
        for y in range(y0 + 4, y1, 8):
            ys = y + 3 * np.sin((xs - x0) / 5.0)
            cv2.polylines(img, [np.stack([xs, ys], 1).astype(np.int32)], False, rgb, 2, cv2.LINE_AA)
    elif kind == "chevron":
        half = (x1 - x0) // 2
        for y in range(y0, y1 + half // 2, 9):
            pts = np.array([[x0, y], [cx, y - half // 2], [x1, y]], np.int32)
            cv2.polylines(img, [pts], False, rgb, 3, cv2.LINE_AA)
    elif kind == "emblem":
        r = max(4, min(x1 - x0, y1 - y0) // 2 - 2)
        cv2.circle(img, (cx, cy), r, rgb, -1, cv2.LINE_AA)
        cv2.circle(img, (cx, cy), max(2, r // 2), _shade(rgb, 1.6), -1, cv2.LINE_AA)
    elif kind == "rings":
        for r in range(4, max(x1 - x0, y1 - y0), 7):
            cv2.circle(img, (cx, cy), r, rgb, 2, cv2.LINE_AA)
    else:
        raise ValueError(f"unknown pattern {kind!r}; expected one of {PATTERNS}")


def draw_product(look: ProductLook, view: str = "front") -> np.ndarray:
    """The package seen from `view` ("front" or "side"), (H, W, 3) RGB uint8.

    Layout, top to bottom inside the label: brand band with the brand word,
    the family pattern on the flavour colour, the flavour word, the size.
    The side view is the same package turned 90 degrees: a narrower face with
    the brand written vertically and a barcode.
    """
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {VIEWS}")
    img = np.full((H, W, 3), BACKGROUND, np.uint8)
    body_w = W if view == "front" else int(W * 0.55)
    mask, (lx0, ly0, lx1, ly1) = _silhouette(look.shape, body_w, H)
    off = (W - body_w) // 2
    lx0, lx1 = lx0 + off, lx1 + off
    full = np.zeros((H, W), np.uint8)
    full[:, off:off + body_w] = mask
    layer = np.full((H, W, 3), look.flavour_rgb, np.uint8)
    band_h = max(14, (ly1 - ly0) // 4)
    if view == "front":
        cv2.rectangle(layer, (0, 0), (W, ly0 + band_h), look.brand_rgb, -1)  # cap/lid/top take the brand colour
        _pattern(layer, look.pattern, (lx0 + 3, ly0 + band_h + 3, lx1 - 3, ly1 - 26), _shade(look.flavour_rgb, 0.7))
        _fit_text(layer, look.brand.upper(), lx0, lx1, ly0 + band_h // 2, _ink(look.brand_rgb), 0.6, 2)
        cv2.rectangle(layer, (lx0, ly1 - 24), (lx1, ly1 - 10), _shade(look.flavour_rgb, 1.35), -1)
        _fit_text(layer, look.flavour.upper(), lx0, lx1, ly1 - 17, _ink(_shade(look.flavour_rgb, 1.35)), 0.45)
        if look.size:
            _fit_text(layer, look.size, lx0, lx1, ly1 - 4, _ink(look.flavour_rgb), 0.3)
    else:
        cv2.rectangle(layer, (lx0, ly0), (lx0 + 14, ly1), look.brand_rgb, -1)
        cv2.rectangle(layer, (0, 0), (W, ly0 + 6), look.brand_rgb, -1)
        tx0 = lx0 + 15  # brand word written bottom-to-top right of the strip
        tall = np.zeros((lx1 - tx0, ly1 - ly0 - 24, 3), np.uint8)
        tall[:] = look.flavour_rgb
        _fit_text(tall, look.brand.upper(), 0, tall.shape[1], tall.shape[0] // 2, _ink(look.flavour_rgb), 0.5)
        layer[ly0:ly1 - 24, tx0:lx1] = cv2.rotate(tall, cv2.ROTATE_90_COUNTERCLOCKWISE)
        bx0, by = lx0 + 18, ly1 - 22  # barcode
        cv2.rectangle(layer, (bx0, by), (lx1 - 3, ly1 - 4), (250, 250, 250), -1)
        seed = sum(ord(c) for c in look.sku)
        for i, x in enumerate(range(bx0 + 2, lx1 - 5, 2)):
            if (seed >> (i % 16)) & 1 or i % 3 == 0:
                cv2.line(layer, (x, by + 2), (x, ly1 - 6), (20, 20, 20), 1)
    img[full > 0] = layer[full > 0]
    outline = cv2.morphologyEx(full, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    img[outline > 0] = _shade(look.brand_rgb, 0.5)
    return img


def write_product_images(look: ProductLook, catalog_dir: Path) -> list[str]:
    """Write catalog/images/<sku>/<view>.png for every view; return the paths relative to catalog/."""
    out = []
    folder = Path(catalog_dir) / "images" / look.sku
    folder.mkdir(parents=True, exist_ok=True)
    for view in VIEWS:
        rgb = draw_product(look, view)
        path = folder / f"{view}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {path}")
        out.append(f"images/{look.sku}/{view}.png")
    return out
