"""Benchmark of the product classifier (engine/products) on in-hand crops from rendered frames.

    python benchmarks/bench_products.py [--scenarios 3] [--threads 1] [--json out.json]

- seen: random shopping stories in corner-store (seeds the training never used), each held
  product shown as what the story has the shopper carry (A) and as one of its look-alikes (B);
  scored by `ProductClassifier` over the corner-store catalog among the family's members;
- unseen: the same kind of scenes with the carried products re-skinned to a catalog the
  network never saw (random packages and flat pictures from a held-out seed), scored among
  their families;
- speed: `ProductClassifier.scores` on batches of crops (family candidates), and
  `hand_crops` on 640x480 frames.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from data.cameras import Camera
from data.store import Catalog
from data.store_source import load_store
from engine.products.dataset import (
    GenConfig,
    Library,
    catalog_rows,
    concat,
    flat_looks,
    library_catalog,
    random_looks,
    scenario_samples,
)
from engine.products.infer import ProductClassifier, hand_crops

BENCH_SEED = 777_000  # scenarios: never used in training (0, 1000, 2000)
UNSEEN_CATALOG_SEED = 4242  # catalog seed never used in training (0) or validation (1000)


def _lib(rows, source: str) -> Library:
    return Library([r[0] for r in rows], [r[1] for r in rows], [source] * len(rows), np.array(["train"] * len(rows)),
                   np.stack([r[2] for r in rows]))


def lookalike_top1(clf: ProductClassifier, d: dict[str, np.ndarray], lib: Library, sku_of) -> dict[str, float]:
    """Top-1 among the crop's family members, over crops A and B whose family has 2+ members."""
    crops = np.concatenate([d["a"], d["b"]])
    labels = np.concatenate([d["prod_a"], d["prod_b"]])
    members = lib.members()
    ok, n_by_size = [], {}
    by_family: dict[str, list[int]] = {}
    for r, lab in enumerate(labels):
        fam = members[lib.families[lab]]
        if len(fam) > 1:
            by_family.setdefault(lib.families[lab], []).append(r)
    for fam, rows in by_family.items():
        cands = [sku_of(j) for j in members[fam]]
        p = clf.scores(list(crops[rows]), cands)
        truth = np.array([cands.index(sku_of(labels[r])) for r in rows])
        ok += list(p.argmax(1) == truth)
        n_by_size[len(cands)] = n_by_size.get(len(cands), 0) + len(rows)
    dist = np.concatenate([d["dist_m"], d["dist_m"]])
    return {"crops": len(ok), "lookalike_top1": float(np.mean(ok)) if ok else float("nan"),
            "families": len(by_family), "crops_by_family_size": n_by_size,
            "median_hand_distance_m": float(np.median(dist)) if len(dist) else float("nan")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=3, help="rendered scenarios per set (default 3)")
    ap.add_argument("--times", type=int, default=40, help="moments per camera (default 40)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    store, cat = load_store("corner-store")
    work = Path(tempfile.mkdtemp(prefix="walkout-bench-products-"))
    out: dict = {"threads": a.threads}

    # seen: corner-store's own products (A: what the story carries)
    lib = _lib(catalog_rows(cat, "corner-store"), "corner-store")
    cfg = GenConfig(scenarios=a.scenarios, times_per_camera=a.times, stores=("corner-store",), keep_real=1.0)
    d = concat([scenario_samples(BENCH_SEED, i, cfg, lib, work / "seen") for i in range(a.scenarios)])
    clf = ProductClassifier(cat.root, cat, threads=a.threads)
    out["seen"] = lookalike_top1(clf, d, lib, lambda i: lib.skus[i])
    print("seen (corner-store):", json.dumps(out["seen"]), flush=True)

    # unseen: a catalog never seen in training or validation
    rows = random_looks(UNSEEN_CATALOG_SEED, 40) + flat_looks(UNSEEN_CATALOG_SEED, 15)
    ulib = _lib(rows, "unseen")
    ucat: Catalog = library_catalog(ulib, Catalog([], cat.root), work / "unseen-png")
    cfg_u = GenConfig(scenarios=a.scenarios, times_per_camera=a.times, stores=("corner-store",))
    du = concat([scenario_samples(BENCH_SEED + 1, i, cfg_u, ulib, work / "unseen-png")
                 for i in range(a.scenarios)])
    uclf = ProductClassifier(Path("/"), ucat, threads=a.threads)
    out["unseen"] = lookalike_top1(uclf, du, ulib, lambda i: f"lib-{i:05d}")
    print("unseen (held-out catalog):", json.dumps(out["unseen"]), flush=True)

    # speed
    crops = np.concatenate([d["a"], d["b"]])[:512]
    cands = [p.sku for p in next(f for f in cat.families().values() if len(f) == 3)]
    clf.scores(list(crops[:64]), cands)
    t = time.perf_counter()
    reps = 0
    while time.perf_counter() - t < 3.0:
        clf.scores(list(crops), cands)
        reps += 1
    out["crops_per_s"] = round(reps * len(crops) / (time.perf_counter() - t), 1)
    K = np.array([[300.0, 0, 319.5], [0, 300.0, 239.5], [0, 0, 1]])
    cam = Camera("c", 640, 480, 15.0, K, np.zeros(5), np.eye(3), np.zeros(3))
    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    pts = np.random.default_rng(1).uniform([-2, -1.5, 2], [2, 1.5, 5], (8, 3))
    t = time.perf_counter()
    for _ in range(200):
        hand_crops(rgb, cam, pts)
    out["hand_crops_per_s"] = round(200 * len(pts) / (time.perf_counter() - t), 1)
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
