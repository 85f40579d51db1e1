"""Training of the 2D pose network on synthetic-store crops (`walkout train pose`).

    walkout train pose [--steps N] [--seed S] [--out PATH] [--batch B] [--threads T]

Data: `dataset.load_or_generate` (cached under the temp dir) for the training seed
and, for validation, a separate seed (VAL_SEED_OFFSET + seed) whose scenarios,
people and cameras the training set never saw. Augmentation is done on the
fly, batched in torch: rotation, scale, shift, horizontal flip (left/right
joints swapped), colour and contrast jitter, grey, blur, down-and-up scaling,
noise. Loss: heatmap MSE (occluded joints at half weight, wrists at 1.5x) plus
visibility BCE. AdamW with a warm-up and cosine decay. Seeded throughout.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from data.world import ARM_PAIRS
from engine.nn_blocks import save_weights
from engine.pose2d.dataset import GenConfig, concat, load_or_generate
from engine.pose2d.model import (ARCH, FLIP_PERM, HEATMAP_SIZE, INPUT_SIZE, NUM_JOINTS, PoseNet, decode,
                                 heatmap_targets, num_params)

VAL_SEED_OFFSET = 1000
VAL_CONFIG = GenConfig(scenarios=4, clips_per_camera=16)
# stories with hand-overs, a third of their clips while both shoppers hold a hand out (v3's extra data)
HANDOVER_SEED_OFFSET = 500
HANDOVER_CONFIG = GenConfig(scenarios=12, handovers=(2, 3), handover_clips=0.35)
HANDOVER_VAL_CONFIG = replace(HANDOVER_CONFIG, scenarios=4, clips_per_camera=16)
WRISTS = (9, 10)
JOINT_WEIGHT = torch.ones(NUM_JOINTS)
JOINT_WEIGHT[list(WRISTS)] = 1.5
OCCLUDED_WEIGHT = 0.5
VIS_LOSS_WEIGHT = 0.3
ARM_SWAP = list(range(NUM_JOINTS))
for _a, _b in ARM_PAIRS:
    ARM_SWAP[_a], ARM_SWAP[_b] = _b, _a
ARMS = [j for pair in ARM_PAIRS for j in pair]
NOT_ARMS = [j for j in range(NUM_JOINTS) if j not in ARMS]


def heatmap_loss(hm: torch.Tensor, hm_t: torch.Tensor, w: torch.Tensor, side_blind_arms: bool) -> torch.Tensor:
    """Weighted heatmap squared error. Side-blind: each crop's arms are scored under both side labellings
    (the whole arm swapped, shoulder to wrist) and the better one counts. From above, which arm is the left
    one is often not in the pixels; forced to guess, the network puts both wrists' peaks on the stronger
    hand. Multi-view sets the sides afterwards by the body (engine.multiview), so the network need only
    find both arms."""
    per = ((hm - hm_t) ** 2).sum((2, 3)) * w  # (B, 17)
    if side_blind_arms:
        swapped = ((hm - hm_t[:, ARM_SWAP]) ** 2).sum((2, 3)) * w[:, ARM_SWAP]
        straight_arms, swapped_arms = per[:, ARMS].sum(1), swapped[:, ARMS].sum(1)
        per_crop = per[:, NOT_ARMS].sum(1) + torch.minimum(straight_arms, swapped_arms)
        return per_crop.sum() / w.sum().clamp(min=1.0)
    return per.sum() / w.sum().clamp(min=1.0)


# -- augmentation ------------------------------------------------------------------------------

def augment(img: torch.Tensor, kp: torch.Tensor, vis: torch.Tensor, inimg: torch.Tensor,
            g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random geometric and photometric changes of a batch (B, 3, N, N) float 0..255 and its joints."""
    B, _, N, _ = img.shape
    dev = img.device

    def U(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*(shape or (B,)), generator=g)

    ang = U(-35, 35) * math.pi / 180
    s = torch.exp(U(math.log(0.8), math.log(1.2)))
    t = U(-0.06, 0.06, B, 2) * N
    flip = torch.rand(B, generator=g) < 0.5
    fx = torch.where(flip, -1.0, 1.0)
    cos, sin = torch.cos(ang), torch.sin(ang)
    R = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (B, 2, 2)
    Fm = torch.diag_embed(torch.stack([fx, torch.ones(B)], -1))
    A = s[:, None, None] * R @ Fm  # input -> output, about the crop's centre
    c = (N - 1) / 2
    # sampling grid: output normalised coords -> input normalised coords
    Ainv = torch.linalg.inv(A)
    tn = t * 2 / N
    theta = torch.cat([Ainv, -(Ainv @ tn[..., None])], -1)
    grid = F.affine_grid(theta.to(dev), [B, 3, N, N], align_corners=False)
    img = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    kp = ((kp - c) @ A.transpose(1, 2)) + c + t[:, None, :]
    perm = torch.tensor(FLIP_PERM)
    kp = torch.where(flip[:, None, None], kp[:, perm], kp)
    vis = torch.where(flip[:, None], vis[:, perm], vis)
    inimg = torch.where(flip[:, None], inimg[:, perm], inimg)
    # down and up again (small, blurry people), blur
    small = torch.rand(B, generator=g) < 0.25
    if small.any():
        f = float(U(0.35, 0.8, 1))
        lo = F.interpolate(img[small], scale_factor=f, mode="bilinear", align_corners=False, antialias=True)
        img[small] = F.interpolate(lo, size=(N, N), mode="bilinear", align_corners=False)
    blur = torch.rand(B, generator=g) < 0.15
    if blur.any():
        k = torch.tensor([1.0, 2.0, 1.0]) / 4
        k2 = (k[:, None] * k[None]).expand(3, 1, 3, 3).contiguous()
        img[blur] = F.conv2d(F.pad(img[blur], (1, 1, 1, 1), mode="replicate"), k2, groups=3)
    # colour: brightness, contrast, per-channel gain, saturation, grey, noise
    mean = img.mean((1, 2, 3), keepdim=True)
    img = (img - mean) * U(0.7, 1.3)[:, None, None, None] + mean * U(0.65, 1.35)[:, None, None, None]
    img = img * U(0.88, 1.12, B, 3)[:, :, None, None]
    grey = img.mean(1, keepdim=True)
    sat = U(0.5, 1.4)[:, None, None, None]
    sat = torch.where((torch.rand(B, generator=g) < 0.05)[:, None, None, None], torch.zeros_like(sat), sat)
    img = grey + (img - grey) * sat
    img = img + torch.randn(img.shape, generator=g) * U(0, 5)[:, None, None, None]
    return img.clamp(0, 255), kp, vis, inimg


def targets(kp: torch.Tensor, vis: torch.Tensor, inimg: torch.Tensor, N: int = INPUT_SIZE):
    """Heatmaps, per-joint heatmap weights and visibility targets for crop-pixel joints."""
    inside = torch.isfinite(kp).all(-1) & (kp > -0.5).all(-1) & (kp < N - 0.5).all(-1) & inimg
    hm = heatmap_targets(torch.where(inside[..., None], kp, torch.full_like(kp, float("nan"))))
    w = inside.float() * torch.where(vis, 1.0, OCCLUDED_WEIGHT) * JOINT_WEIGHT
    return hm, w, (vis & inside).float()


# -- evaluation -----------------------------------------------------------------------------------

@torch.inference_mode()
def predict_crops(net: torch.nn.Module, img: np.ndarray, batch: int = 128) -> np.ndarray:
    """(N, 17, 3): crop-pixel u, v and score for uint8 crops (N, S, S, 3)."""
    net.eval()
    out = []
    for i in range(0, len(img), batch):
        x = torch.from_numpy(img[i:i + batch]).permute(0, 3, 1, 2).float().contiguous(
            memory_format=torch.channels_last)
        hm, v = net(x)
        uv, _ = decode(hm)
        out.append(torch.cat([uv, torch.sigmoid(v)[..., None]], -1).numpy())
    return np.concatenate(out) if out else np.zeros((0, NUM_JOINTS, 3), np.float32)


def metrics(pred: np.ndarray, data: dict[str, np.ndarray]) -> dict[str, float]:
    """PCK and median errors over visible joints inside the crop; errors also in original-image pixels."""
    kp, vis = data["kp"], data["vis"]
    N = data["img"].shape[1]
    inside = np.isfinite(kp).all(-1) & (kp > -0.5).all(-1) & (kp < N - 0.5).all(-1) & data["inimg"]
    m = vis & inside
    err = np.linalg.norm(pred[..., :2] - np.nan_to_num(kp), axis=-1)  # crop px
    err_img = err * data["scale"][:, None]
    wr = np.zeros_like(m)
    wr[:, list(WRISTS)] = True
    reach = data["reach"][:, None] & wr
    hand_over = (data["hand_over"][:, None] & wr) if "hand_over" in data else np.zeros_like(wr)
    err_blind_img = _side_blind_err(pred, kp) * data["scale"][:, None]
    score = pred[..., 2]
    occl = ~vis & inside
    out = {
        "n_crops": int(len(kp)),
        "n_visible_joints": int(m.sum()),
        "pck@0.05": float((err[m] < 0.05 * N).mean()),
        "pck@0.1": float((err[m] < 0.1 * N).mean()),
        "median_err_px": float(np.median(err_img[m])),
        "median_wrist_err_px": float(np.median(err_img[m & wr])),
        "p90_wrist_err_px": float(np.percentile(err_img[m & wr], 90)),
        "median_reach_wrist_err_px": float(np.median(err_img[m & reach])) if (m & reach).any() else float("nan"),
        "median_handover_wrist_err_side_blind_px": float(np.median(err_blind_img[m & hand_over]))
        if (m & hand_over).any() else float("nan"),
        "wrist_pck@0.1": float((err[m & wr] < 0.1 * N).mean()),
        "median_wrist_err_side_blind_px": float(np.median(err_blind_img[m & wr])),
        "median_err_crop_frac": float(np.median(err[m]) / N),
        "mean_score_visible": float(score[m].mean()),
        "mean_score_occluded": float(score[occl].mean()) if occl.any() else float("nan"),
        "median_occluded_err_px": float(np.median(err_img[occl])) if occl.any() else float("nan"),
    }
    # visibility as a classifier: accuracy at 0.5 over joints inside the crop
    out["visibility_acc"] = float(((score >= 0.5) == vis)[inside].mean())
    return out


def _side_blind_err(pred: np.ndarray, kp: np.ndarray) -> np.ndarray:
    """Per-joint crop-pixel error with each crop's arms matched to whichever side labelling fits them better."""
    kp0 = np.nan_to_num(kp)
    e = np.linalg.norm(pred[..., :2] - kp0, axis=-1)
    es = np.linalg.norm(pred[..., :2] - kp0[:, ARM_SWAP], axis=-1)
    better = es[:, ARMS].sum(1) < e[:, ARMS].sum(1)
    return np.where(better[:, None], es, e)


def evaluate(net: torch.nn.Module, data: dict[str, np.ndarray]) -> dict[str, float]:
    return metrics(predict_crops(net, data["img"]), data)


# -- training -------------------------------------------------------------------------------------

def _lr(step: int, steps: int, base: float, warm: int = 200) -> float:
    if step < warm:
        return base * (step + 1) / warm
    p = (step - warm) / max(steps - warm, 1)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def train(out: Path, seed: int = 0, steps: int = 2800, batch: int = 32, lr: float = 2e-3, threads: int = 1,
          data_seed: int | None = None, gen: GenConfig = GenConfig(), val_gen: GenConfig = VAL_CONFIG,
          workers: int = 2, eval_every: int = 1000, log: Callable[[str], None] = print,
          init: Path | None = None, side_blind_arms: bool = False, warmup: int = 200,
          handover_gen: GenConfig | None = None) -> dict:
    """Train, validate, and save the weights to `out`; returns the metrics (also stored in the file)."""
    out = Path(out)
    t_start = time.perf_counter()
    torch.set_num_threads(max(1, int(threads)))
    data_seed = seed if data_seed is None else data_seed
    val_seed = data_seed + VAL_SEED_OFFSET
    t0 = time.perf_counter()
    val = load_or_generate(val_seed, val_gen, workers, log)
    data = load_or_generate(data_seed, gen, workers, log)
    val_ho = None
    if handover_gen is not None and handover_gen.scenarios > 0:  # hand-over stories on top, and their own check
        data = concat([data, load_or_generate(data_seed + HANDOVER_SEED_OFFSET, handover_gen, workers, log)])
        val_ho = load_or_generate(val_seed + HANDOVER_SEED_OFFSET, HANDOVER_VAL_CONFIG, workers, log)
    gen_s = time.perf_counter() - t0
    log(f"data: {len(data['img'])} training crops (seed {data_seed}), {len(val['img'])} validation crops "
        f"(seed {val_seed}), {gen_s:.0f} s")

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = PoseNet()
    init_steps = None  # steps behind the starting weights, all sittings counted
    if init is not None:  # go on from trained weights (a longer run in several sittings, or a new loss)
        ck = torch.load(init, map_location="cpu", weights_only=True)
        net.load_state_dict(ck["state_dict"])
        before = ck.get("info", {})
        init_steps = int(before.get("steps", 0)) + int(before.get("init_steps") or 0)
        log(f"starting from {init} ({init_steps} steps)")
    net = net.to(memory_format=torch.channels_last)
    log(f"model: {ARCH['name']}, {num_params(net)} parameters")
    decay = [p for n, p in net.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in net.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr)
    # reaches and hand-overs matter most (the wrist decides who took what): they are drawn twice as often
    p = np.where(data["reach"] | data["hand_over"], 2.0, 1.0)
    p /= p.sum()
    img_all, kp_all = data["img"], torch.from_numpy(data["kp"])
    vis_all, in_all = torch.from_numpy(data["vis"]), torch.from_numpy(data["inimg"])
    history = []
    t_train = time.perf_counter()
    run_loss = run_hm = run_vis = 0.0
    for step in range(steps):
        net.train()
        idx = np.sort(rng.choice(len(img_all), batch, p=p))
        x = torch.from_numpy(img_all[idx]).permute(0, 3, 1, 2).float()
        x, kp, vis, inimg = augment(x, kp_all[idx], vis_all[idx], in_all[idx], g)
        hm_t, w, vis_t = targets(kp, vis, inimg)
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, lr, warmup)
        hm, vl = net(x.contiguous(memory_format=torch.channels_last))
        l_hm = heatmap_loss(hm, hm_t, w, side_blind_arms)
        l_vis = F.binary_cross_entropy_with_logits(vl, vis_t)
        loss = l_hm + VIS_LOSS_WEIGHT * l_vis
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run_loss += float(loss.detach())
        run_hm += float(l_hm.detach())
        run_vis += float(l_vis.detach())
        if (step + 1) % 100 == 0:
            el = time.perf_counter() - t_train
            log(f"step {step + 1}/{steps}: loss {run_loss / 100:.4f} (heatmap {run_hm / 100:.4f}, "
                f"visibility {run_vis / 100:.4f}), lr {_lr(step, steps, lr, warmup):.2e}, {el:.0f} s, "
                f"{(step + 1) / el:.2f} steps/s")
            run_loss = run_hm = run_vis = 0.0
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            m = evaluate(net, val)
            m["step"] = step + 1
            if val_ho is not None:
                mh = m["hand_over_set"] = evaluate(net, val_ho)
                log(f"hand-over validation: held-out wrists {mh['median_handover_wrist_err_side_blind_px']:.2f} px "
                    f"(side-blind), all wrists {mh['median_wrist_err_side_blind_px']:.2f} px")
            history.append(m)
            log(f"validation at step {step + 1}: PCK@0.05 {m['pck@0.05']:.3f}, PCK@0.1 {m['pck@0.1']:.3f}, "
                f"median error {m['median_err_px']:.2f} px, median wrist error {m['median_wrist_err_px']:.2f} px "
                f"(reaching {m['median_reach_wrist_err_px']:.2f} px, side-blind "
                f"{m['median_wrist_err_side_blind_px']:.2f} px), visibility acc {m['visibility_acc']:.3f}")
    train_s = time.perf_counter() - t_train
    final = history[-1]
    info = {
        "arch": ARCH, "input_size": INPUT_SIZE, "heatmap_size": HEATMAP_SIZE, "params": num_params(net),
        "seed": seed, "data_seed": data_seed, "val_seed": val_seed, "steps": steps, "batch": batch, "lr": lr,
        "init": str(init) if init else None, "init_steps": init_steps, "side_blind_arms": side_blind_arms,
        "threads": threads, "train_crops": int(len(img_all)), "val_crops": int(len(val["img"])),
        "train_config": gen.__dict__, "val_config": val_gen.__dict__,
        "handover_config": handover_gen.__dict__ if handover_gen else None,
        "data_s": round(gen_s, 1), "train_s": round(train_s, 1), "total_s": round(time.perf_counter() - t_start, 1),
        "val": final, "history": history, "torch": str(torch.__version__),
    }
    save_weights(net, out, "walkout-pose2d/1", ARCH, info)
    log(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB); training {train_s:.0f} s")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="walkout train pose", description="Train the 2D pose network on "
                                 "synthetic-store renders and save its weights.")
    ap.add_argument("--steps", type=int, default=2800, help="optimiser steps (default 2800)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the training run and its data (default 0)")
    ap.add_argument("--out", type=Path, default=Path("pose2d.pt"), help="weights file to write (default pose2d.pt)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: on a shared 2-core "
                    "machine 2 threads run several times slower whenever another process is busy)")
    ap.add_argument("--workers", type=int, default=2, help="processes that generate the data (default 2)")
    ap.add_argument("--scenarios", type=int, default=GenConfig.scenarios,
                    help=f"training scenarios to render (default {GenConfig.scenarios})")
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--metrics", type=Path, default=None, help="also write the metrics here as JSON")
    ap.add_argument("--init", type=Path, default=None, help="start from these weights instead of at random")
    ap.add_argument("--side-blind-arms", action="store_true",
                    help="score each crop's arms under the better of the two side labellings")
    ap.add_argument("--warmup", type=int, default=200, help="learning-rate warm-up steps (default 200)")
    ap.add_argument("--handover-scenarios", type=int, default=0,
                    help="also train on this many stories rich in hand-overs (HANDOVER_CONFIG; default 0: none) and "
                    "validate on 4 more")
    a = ap.parse_args(argv)
    gen = GenConfig(scenarios=a.scenarios)
    ho_gen = replace(HANDOVER_CONFIG, scenarios=a.handover_scenarios) if a.handover_scenarios > 0 else None
    info = train(a.out, seed=a.seed, steps=a.steps, batch=a.batch, lr=a.lr, threads=a.threads, gen=gen,
                 workers=a.workers, eval_every=a.eval_every, log=lambda m: print(m, flush=True),
                 init=a.init, side_blind_arms=a.side_blind_arms, warmup=a.warmup, handover_gen=ho_gen)
    if a.metrics:
        a.metrics.write_text(json.dumps(info, indent=1))
    print(json.dumps(info["val"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
