"""`walkout evaluate`'s scoring: a perfect run scores perfectly; a swapped identity is caught."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.evaluate import evaluate
from engine.run import Run


@pytest.fixture()
def truth_rec(tmp_path) -> Path:
    """Two people walking past each other for 10 s, as truth/poses.npz."""
    t = np.arange(0, 10, 1 / 30)
    joints = np.full((len(t), 2, 17, 3), np.nan, np.float32)
    for p, (x0, v) in enumerate(((1.0, 0.5), (6.0, -0.5))):
        x = x0 + v * t
        joints[:, p, :, 0] = x[:, None]
        joints[:, p, :, 1] = 2.0 + p * 1.0
        joints[:, p, :, 2] = np.linspace(0.1, 1.7, 17)
    joints[:15, 1] = np.nan  # the second person enters half a second late
    (tmp_path / "truth").mkdir()
    np.savez(tmp_path / "truth" / "poses.npz", t=t, people=np.array(["p1", "p2"]), joints=joints)
    return tmp_path


def make_run(t, joints) -> Run:
    floor = np.nanmean(joints[:, :, 15:17, :2], axis=2)
    return Run(Path("."), {}, t, np.array(["t1", "t2"]), joints, np.ones(joints.shape[:3]), floor, [])


def test_a_perfect_run_scores_perfectly(truth_rec):
    z = np.load(truth_rec / "truth" / "poses.npz")
    r = evaluate(truth_rec, make_run(z["t"][::2], z["joints"][::2] + np.float32(0.03)))
    assert r["tracking"]["idf1"] == pytest.approx(1.0) and r["tracking"]["mota"] == pytest.approx(1.0)
    assert r["tracking"]["visits_clean"] == 2
    assert r["pose"]["wrist_median_m"] == pytest.approx(0.03 * np.sqrt(3), abs=1e-4)


def test_an_identity_swap_is_counted(truth_rec):
    z = np.load(truth_rec / "truth" / "poses.npz")
    j = z["joints"][::2].copy()
    j[100:, [0, 1]] = j[100:, [1, 0]]
    r = evaluate(truth_rec, make_run(z["t"][::2], j))
    assert r["tracking"]["switches"] == 2 and r["tracking"]["visits_clean"] == 0
    assert r["tracking"]["idf1"] < 0.8
