"""Training of the product embedding (`walkout train products`).

    walkout train products [--steps N] [--seed S] [--out PATH] [--threads T]

Data (`dataset.py`, cached under the temp dir): the library of catalog pictures and
rendered in-hand samples (the same hand with product A, its look-alike B, and none).
Each step embeds
- rendered crops (A or B of a sample), labelled with their product;
- "pasted" crops: a library picture pasted where the billboard was in the empty crop of a
  sample (scale and position jitter, sometimes part-hidden by a skin-coloured blob), then
  shrunk to the crop's true pixel size, JPEG-compressed (cv2.imencode) and enlarged again,
  so that every training product is seen in hands, not only the few hundred rendered;
- the catalog inputs (`model.catalog_input`, lightly jittered) of every product in the batch
  and of all their family members.
Loss: cross-entropy of scaled cosine similarities over all catalog inputs of the batch
(in-batch negatives) plus the same restricted to the crop's family (the look-alike
decision the engine asks for). AdamW, warm-up and cosine decay; seeded throughout.

Validation: held-out products (a third of go-store's families, the held-out random and flat
catalogs) in unseen scenarios, and corner-store's own products in unseen scenarios.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from engine.nn_blocks import save_weights
from engine.products.dataset import GenConfig, Library, load_library, load_or_generate
from engine.products.model import (
    ARCH,
    INPUT_SIZE,
    ProductNet,
    attention_target,
    catalog_input,
    num_params,
)

TRAIN_CONFIG = GenConfig()
VAL_SEED_OFFSET = 1000
SEEN_SEED_OFFSET = 2000
VAL_UNSEEN = GenConfig(scenarios=4, times_per_camera=40, split="val")
VAL_SEEN = GenConfig(scenarios=3, times_per_camera=40, split="train", stores=("corner-store",),
                     sources=("corner-store",), keep_real=0.5)
PROTO_VIEWS = 4  # jittered catalog inputs precomputed per product
ATT_WEIGHT = 0.5  # attention supervision: the product's rectangle in the crop (known in training)


# -- inputs ------------------------------------------------------------------------------------

def proto_bank(lib: Library, idx: np.ndarray, rng: np.random.Generator, views: int = PROTO_VIEWS) -> np.ndarray:
    """(len(idx), views, 64, 64, 3): catalog inputs with scale, shift, background and blur jitter."""
    out = np.empty((len(idx), views, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    for r, i in enumerate(idx):
        for v in range(views):
            if v == 0:
                out[r, v] = catalog_input(lib.images[i])
                continue
            bg = int(rng.integers(100, 160))
            img = catalog_input(lib.images[i], float(rng.uniform(0.85, 1.15)), tuple(rng.uniform(-1.5, 1.5, 2)), bg)
            if rng.random() < 0.5:
                img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.4, 1.0)))
            out[r, v] = img
    return out


SKIN = np.array([[255, 219, 172], [241, 194, 125], [224, 172, 105], [198, 134, 66], [141, 85, 36]], float)


def paste(empty: np.ndarray, rect: np.ndarray, pic: np.ndarray, side_px: float,
          rng: np.random.Generator) -> np.ndarray:
    """A picture pasted as a held billboard into an empty crop, degraded as a camera frame would be."""
    x0, y0, x1, y1 = rect
    s = float(rng.uniform(0.9, 1.1))
    cx, cy = (x0 + x1) / 2 + rng.normal(0, 1.0), (y0 + y1) / 2 + rng.normal(0, 1.0)
    w, h = max((x1 - x0) * s, 2.0), max((y1 - y0) * s, 2.0)
    out = empty.copy()
    # paste at the frame's own resolution (side_px image pixels), then back up to the crop
    nat = int(np.clip(round(side_px), 8, INPUT_SIZE))
    k = nat / INPUT_SIZE
    small = cv2.resize(out, (nat, nat), interpolation=cv2.INTER_AREA)
    bw, bh = max(1, int(round(w * k))), max(1, int(round(h * k)))
    bx, by = int(round((cx - w / 2) * k)), int(round((cy - h / 2) * k))
    bb = cv2.resize(pic, (bw, bh), interpolation=cv2.INTER_AREA)
    xa, ya, xb, yb = max(bx, 0), max(by, 0), min(bx + bw, nat), min(by + bh, nat)
    if xa < xb and ya < yb:
        small[ya:yb, xa:xb] = bb[ya - by:yb - by, xa - bx:xb - bx]
    if rng.random() < 0.3:  # a hand or another body part over part of it
        col = SKIN[int(rng.integers(len(SKIN)))] if rng.random() < 0.7 else rng.integers(0, 256, 3)
        c = (int(round((cx + rng.normal(0, w / 2)) * k)), int(round((cy + rng.normal(0, h / 2)) * k)))
        ax = (max(1, int(w * k * rng.uniform(0.3, 0.7))), max(1, int(h * k * rng.uniform(0.2, 0.5))))
        cv2.ellipse(small, c, ax, float(rng.uniform(0, 180)), 0, 360, tuple(int(v) for v in col), -1)
    q = int(rng.integers(35, 95))
    ok, buf = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    if ok:
        small = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    return cv2.resize(small, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)


def photometric(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Lighting and sensor jitter of a batch (B, 3, N, N) float 0..255, and a small shift."""
    B = x.shape[0]

    def U(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*(shape or (B,)), generator=g)

    x = x * U(0.7, 1.3)[:, None, None, None] * U(0.92, 1.08, B, 3)[:, :, None, None]
    x = x + torch.randn(x.shape, generator=g) * U(0, 4)[:, None, None, None]
    sh = torch.randint(-3, 4, (2,), generator=g)
    x = torch.roll(x, (int(sh[0]), int(sh[1])), (2, 3))
    return x.clamp(0, 255)


# -- evaluation ----------------------------------------------------------------------------------

@torch.inference_mode()
def embed(net: torch.nn.Module, imgs: np.ndarray, batch: int = 256) -> torch.Tensor:
    net.eval()
    out = [net(torch.from_numpy(np.ascontiguousarray(imgs[i:i + batch])).permute(0, 3, 1, 2).float())
           for i in range(0, len(imgs), batch)]
    return torch.cat(out) if out else torch.zeros(0, ARCH["embed"])


def evaluate(net: torch.nn.Module, data: dict[str, np.ndarray], lib: Library) -> dict[str, float]:
    """Top-1 of crops A and B among their family (look-alike) and among their source catalog."""
    if not len(data["a"]):
        return {"n": 0}
    crops = np.concatenate([data["a"], data["b"]])
    labels = np.concatenate([data["prod_a"], data["prod_b"]])
    used = np.unique(labels)
    members = lib.members()
    src_of = {}
    for i, s in enumerate(lib.sources):
        src_of.setdefault(s, []).append(i)
    protos = sorted(set(used) | {j for i in used for j in members[lib.families[i]]}
                    | {j for i in used for j in src_of[lib.sources[i]]})
    P = embed(net, np.stack([catalog_input(lib.images[i]) for i in protos]))
    col = {p: k for k, p in enumerate(protos)}
    E = embed(net, crops)
    S = (E @ P.T).numpy()
    fam_ok, all_ok, fam_n = [], [], []
    for r, lab in enumerate(labels):
        fam = members[lib.families[lab]]
        src = src_of[lib.sources[lab]]
        if len(fam) > 1:
            fam_ok.append(fam[int(np.argmax(S[r, [col[j] for j in fam]]))] == lab)
            fam_n.append(len(fam))
        all_ok.append(src[int(np.argmax(S[r, [col[j] for j in src]]))] == lab)
    return {"n_crops": len(labels), "n_lookalike": len(fam_ok),
            "lookalike_top1": float(np.mean(fam_ok)) if fam_ok else float("nan"),
            "mean_family_size": float(np.mean(fam_n)) if fam_n else float("nan"),
            "catalog_top1": float(np.mean(all_ok)), "n_products": len(used)}


# -- training ----------------------------------------------------------------------------------

def _lr(step: int, steps: int, base: float, warm: int = 100) -> float:
    if step < warm:
        return base * (step + 1) / warm
    p = (step - warm) / max(steps - warm, 1)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def train(out: Path, seed: int = 0, steps: int = 500, batch: int = 32, paste_batch: int = 16, lr: float = 3e-3,
          threads: int = 1, workers: int = 2, gen: GenConfig = TRAIN_CONFIG, eval_every: int = 250,
          log: Callable[[str], None] = print) -> dict:
    """Train, validate, and save the weights to `out`; returns the metrics (also stored in the file)."""
    out = Path(out)
    t_start = time.perf_counter()
    torch.set_num_threads(max(1, int(threads)))
    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    lib = load_library(seed)
    val = load_or_generate(seed + VAL_SEED_OFFSET, VAL_UNSEEN, seed, workers, log)
    seen = load_or_generate(seed + SEEN_SEED_OFFSET, VAL_SEEN, seed, workers, log)
    data = load_or_generate(seed, gen, seed, workers, log)
    gen_s = time.perf_counter() - t0
    log(f"data: {len(lib.skus)} library products ({int((lib.split == 'train').sum())} for training), "
        f"{len(data['a'])} training samples, {len(val['a'])} unseen-product and {len(seen['a'])} seen-product "
        f"validation samples, {gen_s:.0f} s")

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_idx = np.flatnonzero(lib.split == "train")
    row_of = {int(i): r for r, i in enumerate(train_idx)}
    bank = proto_bank(lib, train_idx, rng)
    members = lib.members()
    fam_rows = {f: [row_of[i] for i in m if i in row_of] for f, m in members.items()}
    net = ProductNet()
    log(f"model: {ARCH['name']}, {num_params(net)} parameters")
    decay = [p for n, p in net.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in net.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr)
    n_data = len(data["a"])
    history = []
    t_train = time.perf_counter()
    run = np.zeros(4)
    for step in range(steps):
        net.train()
        idx = rng.integers(0, n_data, batch)
        use_b = rng.random(batch) < 0.5
        crops = np.where(use_b[:, None, None, None], data["b"][idx], data["a"][idx])
        labels = np.where(use_b, data["prod_b"][idx], data["prod_a"][idx])
        pidx = rng.integers(0, n_data, paste_batch)
        plab = train_idx[rng.integers(0, len(train_idx), paste_batch)]
        pasted = [paste(data["e"][j], data["rect"][j], lib.images[p], float(data["side_px"][j]), rng)
                  for j, p in zip(pidx, plab)]
        crops = np.concatenate([crops, np.stack(pasted)])
        labels = np.concatenate([labels, plab])
        rows = [row_of[int(i)] for i in labels]
        protos = sorted({r for i in labels for r in fam_rows[lib.families[int(i)]]} | set(rows))
        col = {r: k for k, r in enumerate(protos)}
        views = rng.integers(0, PROTO_VIEWS, len(protos))
        pin = bank[protos, views]
        x = torch.from_numpy(np.concatenate([crops, pin])).permute(0, 3, 1, 2).float()
        x = torch.cat([photometric(x[:len(crops)], g), x[len(crops):]])
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, lr)
        e, att = net.embed_and_attention(x)
        ec, ep = e[:len(crops)], e[len(crops):]
        rects = np.concatenate([data["rect"][idx], data["rect"][pidx]])
        l_att = -(torch.from_numpy(attention_target(rects)) * F.log_softmax(att[:len(crops)], -1)).sum(-1).mean()
        logits = net.scale() * ec @ ep.T
        target = torch.tensor([col[r] for r in rows])
        fam_mask = torch.full_like(logits, float("-inf"))
        for k, i in enumerate(labels):
            fam_mask[k, [col[r] for r in fam_rows[lib.families[int(i)]]]] = 0.0
        l_all = F.cross_entropy(logits, target)
        l_fam = F.cross_entropy(logits + fam_mask, target)
        loss = l_all + l_fam + ATT_WEIGHT * l_att
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run += [float(loss.detach()), float(l_all.detach()), float(l_fam.detach()), float(l_att.detach())]
        if (step + 1) % 50 == 0:
            el = time.perf_counter() - t_train
            log(f"step {step + 1}/{steps}: loss {run[0] / 50:.3f} (all {run[1] / 50:.3f}, family {run[2] / 50:.3f}, "
                f"attention {run[3] / 50:.3f}), "
                f"scale {float(net.scale().detach()):.1f}, lr {_lr(step, steps, lr):.2e}, {el:.0f} s, {(step + 1) / el:.2f} steps/s")
            run[:] = 0
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            m = {"step": step + 1, "unseen": evaluate(net, val, lib), "seen": evaluate(net, seen, lib)}
            history.append(m)
            log(f"validation at step {step + 1}: look-alike top-1 unseen {m['unseen']['lookalike_top1']:.4f} "
                f"(catalog {m['unseen']['catalog_top1']:.4f}), seen {m['seen']['lookalike_top1']:.4f} "
                f"(catalog {m['seen']['catalog_top1']:.4f})")
    train_s = time.perf_counter() - t_train
    info = {
        "arch": ARCH, "input_size": INPUT_SIZE, "params": num_params(net), "seed": seed, "steps": steps,
        "batch": batch, "paste_batch": paste_batch, "lr": lr, "threads": threads,
        "library_products": len(lib.skus), "train_products": len(train_idx), "train_samples": int(n_data),
        "val_samples": len(val["a"]), "seen_samples": len(seen["a"]),
        "train_config": gen.__dict__, "val_config": VAL_UNSEEN.__dict__, "seen_config": VAL_SEEN.__dict__,
        "data_s": round(gen_s, 1), "train_s": round(train_s, 1), "total_s": round(time.perf_counter() - t_start, 1),
        "val": history[-1], "history": history, "torch": str(torch.__version__),
    }
    save_weights(net, out, "walkout-products/1", ARCH, info)
    log(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB); training {train_s:.0f} s")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="walkout train products", description="Train the product embedding on "
                                 "simulator renders and catalog pictures, and save its weights.")
    ap.add_argument("--steps", type=int, default=500, help="optimiser steps (default 500)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the training run and its data (default 0)")
    ap.add_argument("--out", type=Path, default=Path("products.pt"), help="weights file (default products.pt)")
    ap.add_argument("--batch", type=int, default=32, help="rendered crops per step (default 32)")
    ap.add_argument("--paste-batch", type=int, default=16, help="pasted crops per step (default 16)")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--workers", type=int, default=2, help="processes that render the data (default 2)")
    ap.add_argument("--scenarios", type=int, default=TRAIN_CONFIG.scenarios,
                    help=f"training scenarios to render (default {TRAIN_CONFIG.scenarios})")
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--metrics", type=Path, default=None, help="also write the metrics here as JSON")
    a = ap.parse_args(argv)
    gen = GenConfig(scenarios=a.scenarios)
    info = train(a.out, seed=a.seed, steps=a.steps, batch=a.batch, paste_batch=a.paste_batch, lr=a.lr,
                 threads=a.threads, workers=a.workers, gen=gen, eval_every=a.eval_every,
                 log=lambda m: print(m, flush=True))
    if a.metrics:
        a.metrics.write_text(json.dumps(info, indent=1))
    print(json.dumps(info["val"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
