"""A small hand-made store for tests whose receipts are worked out by hand.

8 x 6 m, two shelves facing a central aisle, six bins on three load cells
(two bins a cell), two look-alike flavours of equal weight.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

PRODUCTS = [
    ("sku-cola", "Fizz Cola 330 ml", 149, 352.0, 2.5, "fizz-330", (200, 30, 30)),
    ("sku-lime", "Fizz Lime 330 ml", 149, 352.0, 2.5, "fizz-330", (60, 190, 40)),
    ("sku-chips", "Chips Salt 150 g", 249, 165.0, 2.0, "chips-salt", (230, 200, 40)),
    ("sku-water", "Still Water 1 l", 99, 1030.0, 6.0, "water-1l", (60, 120, 230)),
    ("sku-bar", "Choc Bar 50 g", 119, 52.0, 0.8, "choc-bar", (110, 60, 30)),
    ("sku-soap", "Soap 100 g", 299, 112.0, 1.5, "soap", (200, 120, 220)),
]


def write_tiny_store(root: Path) -> Path:
    """Write store.json and catalog/ under root; returns root."""
    root = Path(root)
    (root / "catalog" / "images").mkdir(parents=True, exist_ok=True)
    products = []
    for sku, name, price, w, sd, fam, rgb in PRODUCTS:
        img = np.full((128, 96, 3), rgb, np.uint8)
        cv2.rectangle(img, (8, 40), (88, 80), (255, 255, 255), -1)
        cv2.putText(img, name.split()[1][:5], (10, 68), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 2)
        d = root / "catalog" / "images" / sku
        d.mkdir(exist_ok=True)
        cv2.imwrite(str(d / "front.png"), img[:, :, ::-1])
        products.append({"sku": sku, "name": name, "price_cents": price, "weight_g": w, "weight_sd_g": sd,
                         "family": fam, "images": [f"images/{sku}/front.png"]})
    (root / "catalog" / "catalog.json").write_text(json.dumps({"products": products}, indent=1))
    bins = []
    skus = [p[0] for p in PRODUCTS]
    k = 0
    for shelf, y0, y1 in (("A", 1.0, 1.5), ("B", 4.5, 5.0)):
        for i in range(3):
            x0 = 2.5 + i * 0.9
            bins.append({"id": f"{shelf}-1-{i + 1:02d}", "shelf": shelf, "min": [x0, y0, 0.9],
                         "max": [x0 + 0.35, y1, 1.2], "sensor": f"lc-{shelf}{i // 2 + 1 if shelf == 'A' else i // 2 + 1}",
                         "sku": skus[k], "stock": 6})
            k += 1
    store = {
        "floor": {"polygon": [[0, 0], [8, 0], [8, 6], [0, 6]]},
        "gates": [{"id": "in-1", "kind": "entry", "zone": [[0.2, 2.5], [1.2, 3.5]]},
                  {"id": "out-1", "kind": "exit", "zone": [[6.8, 2.5], [7.8, 3.5]]}],
        "shelves": [{"id": "A", "min": [2.3, 1.0, 0.0], "max": [5.5, 1.5, 1.9], "facing": [0, 1]},
                    {"id": "B", "min": [2.3, 4.5, 0.0], "max": [5.5, 5.0, 1.9], "facing": [0, -1]}],
        "sensors": [{"id": s, "kind": "load_cell", "rate_hz": 30} for s in ("lc-A1", "lc-A2", "lc-B1", "lc-B2")],
        "bins": bins,
    }
    (root / "store.json").write_text(json.dumps(store, indent=1))
    return root
