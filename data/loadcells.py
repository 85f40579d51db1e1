"""Shelf load-cell signals (recording.md: sensors/weights.csv) from what happened.

Each cell reports the total load of the units on its bins at about its rate,
with Gaussian noise, shaking while a hand is in one of its bins, and the
scenario's spike, drift and dropout faults. A unit's weight ramps in or out
over the reach's load change, starting at the truth event's time.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from data.scenario import Fault
from data.store import Store
from data.world import World


def _ramp(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def cell_signal(store: Store, world: World, sensor_id: str, noise_g: float, faults: list[Fault],
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(t, grams) of one load cell over the recording."""
    sensor = store.sensor_by_id[sensor_id]
    period = 1.0 / sensor.rate_hz
    t0 = float(rng.uniform(0, period))
    n = int(np.floor((world.duration_s - t0) / period)) + 1
    t = t0 + np.arange(n) * period + rng.normal(0, period * 0.02, n)
    t = np.clip(np.maximum.accumulate(t), 0.0, world.duration_s)
    bins = {b.id for b in store.bins_on(sensor_id)}
    g = np.zeros(n)
    for bid in bins:
        g += sum(world.unit_weight[u] for u in world.initial_units.get(bid, []))
    for ch in world.load_changes:
        if ch.bin in bins:
            g += ch.sign * world.unit_weight[ch.unit] * _ramp((t - ch.t) / ch.ramp_s)
    # a hand in a bin shakes the plate: a damped wobble plus presses
    for h in world.hands_in_bins:
        if h.bin not in bins:
            continue
        m = (t >= h.t_in) & (t < h.t_out)
        if not m.any():
            continue
        amp = rng.uniform(4.0, 15.0)
        f = rng.uniform(3.0, 8.0)
        ph = rng.uniform(0, 2 * np.pi)
        tt = t[m] - h.t_in
        env = np.sin(np.pi * tt / max(h.t_out - h.t_in, 1e-3))
        g[m] += amp * env * np.sin(2 * np.pi * f * tt + ph) + rng.normal(0, amp * 0.3, int(m.sum()))
    g += rng.normal(0, noise_g, n)
    keep = np.ones(n, bool)
    for fl in faults:
        if fl.sensor != sensor_id:
            continue
        if fl.kind == "sensor_drift":
            g += fl.g_per_min * t / 60.0
        elif fl.kind == "sensor_spike":
            g[(t >= fl.at) & (t < fl.at + (fl.s or 0.3))] += fl.grams
        elif fl.kind == "sensor_dropout":
            keep &= ~((t >= fl.start) & (t < fl.end))
    return t[keep], g[keep]


def write_weights(path: Path, store: Store, world: World, noise_g: float, faults: list[Fault], seed: int) -> None:
    """Write every cell's readings, merged and sorted by time, as weights.csv (or .csv.gz)."""
    rng = np.random.default_rng([seed, 17])
    ts, ids, gs = [], [], []
    for k, s in enumerate(store.sensors):
        t, g = cell_signal(store, world, s.id, noise_g, faults, rng)
        ts.append(t)
        gs.append(g)
        ids.append(np.full(len(t), k))
    t = np.concatenate(ts)
    g = np.concatenate(gs)
    k = np.concatenate(ids)
    order = np.argsort(t, kind="stable")
    names = [s.id for s in store.sensors]
    lines = ["t,sensor,grams"]
    lines += [f"{tt:.4f},{names[kk]},{gg:.2f}" for tt, kk, gg in zip(t[order], k[order], g[order])]
    text = "\n".join(lines) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", newline="") as f:
            f.write(text)
    else:
        path.write_text(text)
