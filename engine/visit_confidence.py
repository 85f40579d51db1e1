"""How sure the engine is of a whole receipt, and the threshold at which it charges unreviewed.

The raw evidence is the probability, under the cart's own hypotheses, that every event touching
the visit was read the way the receipt assumes. The cart's likelihoods are approximations, so
that number is mapped to a calibrated probability by a logistic model over it and a few risk
counts (tangles with other parties, camera gaps and sensor faults at the visit's events,
events nobody tracked could explain, events with a shopper unseen beside the taker), fitted on
labelled recordings by `benchmarks/bench_cart.py --fit` and kept in cart_calibration.json beside
this file. The fit is sign-constrained: a risk may only lower the confidence and the raw evidence
only raise it, so a few hundred labelled visits cannot teach it that camera gaps make receipts right.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

CALIBRATION_FILE = Path(__file__).with_name("cart_calibration.json")
FEATURES = ("log_raw", "tangles", "gaps", "faults", "untracked", "events", "track_doubts", "orphans",
            "unseen_beside")


@dataclass
class VisitRisk:
    """The numbers a visit's calibrated confidence is made from."""
    raw: float  # product over events of the probability the visit's share of it is right
    tangles: int = 0  # tangled intervals with people of other parties
    gaps: int = 0  # camera gaps at the visit's events
    faults: int = 0  # load-cell faults (dropouts, spikes) at the visit's events
    untracked: int = 0  # events near the visit that no tracked hand explains
    events: int = 0  # events on the visit's receipt
    track_doubts: int = 0  # the linker's doubts about the party's tracks (ambiguous account or re-id, lost, ...)
    orphans: int = 0  # items taken, while the visit was in the store, by a hand no visit's track owns
    unseen_beside: int = 0  # events taken or put with a shopper standing unseen beside the hand (this visit's or not)

    def vector(self) -> np.ndarray:
        return np.array([math.log(max(self.raw, 1e-12)), self.tangles, self.gaps, self.faults, self.untracked,
                         self.events, self.track_doubts, self.orphans, self.unseen_beside], float)


@dataclass
class Calibration:
    """Logistic map from VisitRisk to the probability that the receipt is exactly right."""
    weights: list[float] = field(default_factory=lambda: [1.0, -0.3, -0.3, -0.5, -1.0, -0.05, -0.5, -1.0, -1.0])
    bias: float = 4.0
    threshold: float = 0.98  # charge unreviewed at or above this calibrated confidence
    fitted_on: str = "defaults (not fitted)"

    def confidence(self, r: VisitRisk) -> float:
        z = float(np.dot(self.weights, r.vector())) + self.bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def save(self, path: Path = CALIBRATION_FILE) -> None:
        path.write_text(json.dumps({"features": list(FEATURES), **asdict(self)}, indent=1) + "\n")


def load_calibration(path: Path = CALIBRATION_FILE) -> Calibration:
    """The committed calibration; defaults (conservative) when the file is absent."""
    if not path.exists():
        return Calibration()
    d = json.loads(path.read_text())
    if list(d.get("features", [])) != list(FEATURES):
        return Calibration()  # fitted on other features: refit with benchmarks/bench_cart.py --fit
    return Calibration(weights=[float(x) for x in d["weights"]], bias=float(d["bias"]),
                       threshold=float(d["threshold"]), fitted_on=str(d.get("fitted_on", "")))


def fit_calibration(risks: list[VisitRisk], right: list[bool], target: float = 0.995,
                    l2: float = 2.0) -> Calibration:
    """Fit the logistic map (L2-regularised, signs fixed) and pick the lowest threshold at which the
    auto-charged receipts are at least `target` exact with 95 % confidence (choose_threshold).

    Weights are bounded: log_raw's at or above zero, every risk count's at or below. Unbounded, the
    out-of-fold fits on ~80 visits each swung with every change in perception (a sensor fault's weight
    from 0.02 to -1.49, a camera gap's to +0.44), and the held-out ECE was 0.19; bounded, 0.10."""
    from scipy.optimize import minimize

    X = np.array([r.vector() for r in risks], float)
    y = np.array(right, float)

    def loss(w: np.ndarray) -> float:
        z = X @ w[:-1] + w[-1]
        return float(np.sum(np.logaddexp(0, z) - y * z) + l2 * np.sum(w[:-1] ** 2))

    bounds = [(0.0, None)] + [(None, 0.0)] * (len(FEATURES) - 1) + [(None, None)]
    w0 = np.r_[Calibration().weights, Calibration().bias]
    res = minimize(loss, w0, method="L-BFGS-B", bounds=bounds)
    cal = Calibration(weights=[float(v) for v in res.x[:-1]], bias=float(res.x[-1]),
                      fitted_on=f"{len(risks)} labelled visits, {int(len(y) - y.sum())} wrong")
    conf = np.array([cal.confidence(r) for r in risks])
    cal.threshold = choose_threshold(conf, y.astype(bool), target)
    return cal


def choose_threshold(conf: np.ndarray, right: np.ndarray, target: float, z: float = 1.645) -> float:
    """Lowest threshold whose auto-charged set is at least `target` exact with 95 % confidence.

    The precision of the visits at or above a threshold must clear `target` by its one-sided
    Wilson lower bound, not just on the sample: with 0.995 that takes some 540 labelled visits
    without an error. Until the labelled set supports it, the threshold is 1.0: nothing is charged
    unreviewed (holding a visit costs a reviewer's minute; a wrong charge costs a customer)."""
    order = np.argsort(-np.asarray(conf, float))
    best = 1.0
    n_right = 0
    for n, i in enumerate(order, start=1):
        n_right += int(bool(right[i]))
        p = n_right / n
        lower = (p + z * z / (2 * n) - z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
        if lower >= target:
            best = float(conf[i])
    return best


def expected_calibration_error(conf: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins: the weighted mean gap between confidence and accuracy."""
    conf, right = np.asarray(conf, float), np.asarray(right, float)
    if not len(conf):
        return float("nan")
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    e = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            e += m.mean() * abs(conf[m].mean() - right[m].mean())
    return float(e)


def chance_ece(conf: np.ndarray, bins: int = 10, draws: int = 500, seed: int = 0) -> tuple[float, float]:
    """(mean, 90th percentile) of the ECE a perfectly calibrated engine would show on these confidences, from
    sampling alone: each visit right with exactly its confidence, drawn `draws` times. On a few hundred visits
    this is far from zero (157 visits of the cart benchmark: about 0.07), so an ECE is judged against it."""
    conf = np.asarray(conf, float)
    if not len(conf):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    e = [expected_calibration_error(conf, rng.random(len(conf)) < conf, bins) for _ in range(draws)]
    return float(np.mean(e)), float(np.percentile(e, 90))
