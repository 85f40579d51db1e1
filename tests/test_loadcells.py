"""Load-cell signals: levels follow the units on the plate; faults show as the spec describes."""
from __future__ import annotations

import numpy as np

from data.loadcells import cell_signal
from data.scenario import Fault
from test_choreography import run


def test_a_take_lowers_the_level_by_the_units_weight_and_faults_show(tiny_store_dir):
    w, store = run(tiny_store_dir, [{"id": "p1", "account": "a1", "enter_at": 1, "actions": [
        {"do": "take", "bin": "A-1-01"}]}], duration=40)
    take = w.events[0]
    unit = next(c.unit for c in w.load_changes if c.bin == "A-1-01")
    faults = [Fault("sensor_dropout", sensor="lc-A1", start=20.0, end=25.0),
              Fault("sensor_spike", sensor="lc-A1", at=30.0, grams=300.0, s=0.3),
              Fault("sensor_drift", sensor="lc-A2", g_per_min=6.0)]
    rng = np.random.default_rng(0)
    t, g = cell_signal(store, w, "lc-A1", 1.5, faults, rng)
    assert 25 < len(t) / 40 < 35  # about 30 Hz
    before = np.median(g[(t > take["t"] - 3) & (t < take["t"] - 0.5)])
    after = np.median(g[(t > take["t"] + 2) & (t < take["t"] + 5)])
    assert abs((before - after) - w.unit_weight[unit]) < 2.0
    total = sum(w.unit_weight[u] for b in ("A-1-01", "A-1-02") for u in w.initial_units[b])
    assert abs(before - total) < 2.0  # tare removed: the plate reads its units' weight
    assert not np.any((t >= 20) & (t < 25))  # dropout: silent
    spike = g[(t >= 30) & (t < 30.3)]
    assert spike.min() > after + 250
    assert np.std(g[(t > 10) & (t < 19)]) < 3.0  # quiet plate: noise only
    t2, g2 = cell_signal(store, w, "lc-A2", 1.5, faults, rng)
    assert np.median(g2[t2 > 35]) - np.median(g2[t2 < 5]) > 3.0  # drift of 6 g/min over ~35 s


def test_a_hand_in_the_bin_shakes_the_plate(tiny_store_dir):
    w, store = run(tiny_store_dir, [{"id": "p1", "account": "a1", "enter_at": 1, "actions": [
        {"do": "touch", "bin": "A-1-02", "s": 2.0}]}], duration=30)
    h = w.hands_in_bins[0]
    t, g = cell_signal(store, w, "lc-A1", 1.0, [], np.random.default_rng(1))
    during = g[(t > h.t_in + 0.4) & (t < h.t_out - 0.4)]
    quiet = g[(t > h.t_out + 2) & (t < h.t_out + 6)]
    assert during.std() > 2 * quiet.std()
    assert abs(np.median(quiet) - np.median(g[t < h.t_in - 0.5])) < 1.5  # no load change
