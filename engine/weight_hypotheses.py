"""What a load-cell change could be: bins, products and unit counts that explain its weight.

A change of delta grams on a cell is explained by units leaving (qty < 0: a take) or arriving
(qty > 0: a put or restock) on one of the cell's bins, or on two of them at once (two reaches
that the plate saw as one step), or by a unit that belongs elsewhere (a misplaced return of
something a person holds), or by nothing we know (`none`: the caller flags weight-mismatch).

Each hypothesis gets a Gaussian likelihood of delta under its expected weight, with the variance
of the change's own uncertainty plus each unit's weight spread, and a prior that prefers fewer
units and single bins. Look-alikes of equal weight come out equally likely: weight cannot tell
them apart, how they look in the hand must.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from data.store import Catalog, Store
from engine.weight_events import WeightChange


@dataclass(frozen=True)
class BinOnCell:
    """A bin on the load cell and the weight of one unit of its product."""
    bin: str
    sku: str
    unit_g: float
    unit_sd_g: float


@dataclass(frozen=True)
class Part:
    """Units of one product moved on one bin (qty signed: negative left the cell)."""
    bin: str | None
    sku: str
    qty: int


@dataclass(frozen=True)
class Hypothesis:
    """One explanation of a change. bin/sku/qty are the first part; `plus` holds a second bin's part
    when two bins changed in one step. kind: cell (one bin), mix (two bins), foreign (a unit of
    another product, bin unknown: a misplaced return), none (no product fits)."""
    bin: str | None
    sku: str | None
    qty: int  # signed: negative = units left the cell (take), positive = units arrived (put/restock)
    loglik: float  # log density of delta under this hypothesis (no prior)
    prob: float = 0.0  # posterior after priors, normalised over the list it came in
    kind: str = "cell"
    plus: tuple[Part, ...] = ()

    @property
    def parts(self) -> tuple[Part, ...]:
        if self.kind == "none":
            return ()
        return (Part(self.bin, self.sku or "", self.qty),) + self.plus

    @property
    def units(self) -> int:
        return sum(abs(p.qty) for p in self.parts)


@dataclass(frozen=True)
class Priors:
    """Prior odds: each extra unit, a second bin, a foreign product, and 'nothing fits'."""
    extra_unit: float = 0.25
    mix: float = 0.3
    foreign: float = 0.1
    none: float = 1e-3
    none_span_g: float = 4000.0  # 'none' spreads its density evenly over this many grams


DEFAULT_PRIORS = Priors()


def bins_on_cell(store: Store, catalog: Catalog, sensor: str) -> list[BinOnCell]:
    """The cell's bins with their products' catalog weights."""
    out = []
    for b in store.bins_on(sensor):
        p = catalog.by_sku[b.sku]
        out.append(BinOnCell(b.id, b.sku, p.weight_g, p.weight_sd_g))
    return out


def _loggauss(x: float, mu: float, var: float) -> float:
    var = max(var, 1e-6)  # a change and products that all claim no noise would divide by zero
    return -0.5 * (x - mu) ** 2 / var - 0.5 * math.log(2 * math.pi * var)


def count_loglik(delta_g: float, sd_g: float, unit_g: float, unit_sd_g: float, signed_qty: int) -> float:
    """Log-likelihood of a change of delta_g (sd sd_g) as signed_qty units of unit_g (sd unit_sd_g each)."""
    return _loggauss(delta_g, signed_qty * unit_g, sd_g ** 2 + abs(signed_qty) * unit_sd_g ** 2)


def _normalise(hyps: list[Hypothesis], logprior: list[float]) -> list[Hypothesis]:
    if not hyps:
        return []
    lp = np.array([h.loglik for h in hyps]) + np.array(logprior)
    w = np.exp(lp - lp.max())
    w /= w.sum()
    out = [Hypothesis(h.bin, h.sku, h.qty, h.loglik, float(p), h.kind, h.plus) for h, p in zip(hyps, w)]
    return sorted(out, key=lambda h: -h.prob)


def _candidates(change: WeightChange, bins: Sequence[BinOnCell], max_qty: int, mixes: bool,
                foreign: Iterable[tuple[str, float, float]], pr: Priors) -> tuple[list[Hypothesis], list[float]]:
    d, s2 = change.delta_g, change.sd_g ** 2
    sign = -1 if d < 0 else 1
    hyps: list[Hypothesis] = []
    prior: list[float] = []
    lu = math.log(pr.extra_unit)
    # both signs are kept: a wrong-signed hypothesis simply gets a negligible probability
    for sg in (sign, -sign):
        for b in bins:
            for q in range(1, max_qty + 1):
                ll = count_loglik(d, change.sd_g, b.unit_g, b.unit_sd_g, sg * q)
                hyps.append(Hypothesis(b.bin, b.sku, sg * q, ll, kind="cell"))
                prior.append((q - 1) * lu)
        if mixes:
            for b1, b2 in combinations(bins, 2):
                for q1 in range(1, max_qty):
                    for q2 in range(1, max_qty - q1 + 1):
                        mu = sg * (q1 * b1.unit_g + q2 * b2.unit_g)
                        ll = _loggauss(d, mu, s2 + q1 * b1.unit_sd_g ** 2 + q2 * b2.unit_sd_g ** 2)
                        hyps.append(Hypothesis(b1.bin, b1.sku, sg * q1, ll, kind="mix",
                                               plus=(Part(b2.bin, b2.sku, sg * q2),)))
                        prior.append((q1 + q2 - 1) * lu + math.log(pr.mix))
    for sku, unit_g, unit_sd in foreign:
        for q in (1, 2):  # a person returns what they hold: arriving units only
            ll = count_loglik(d, change.sd_g, unit_g, unit_sd, q)
            hyps.append(Hypothesis(None, sku, q, ll, kind="foreign"))
            prior.append((q - 1) * lu + math.log(pr.foreign))
    hyps.append(Hypothesis(None, None, 0, -math.log(pr.none_span_g), kind="none"))
    prior.append(math.log(pr.none))
    return hyps, prior


def explain(change: WeightChange, bins: Sequence[BinOnCell], max_qty: int = 4, *, mixes: bool = True,
            foreign: Iterable[tuple[str, float, float]] = (), priors: Priors = DEFAULT_PRIORS) -> list[Hypothesis]:
    """Hypotheses for a change, most probable first; probabilities sum to 1 over the list.

    foreign: (sku, unit_g, unit_sd_g) of products people near the shelf hold, for misplaced
    returns (see explain_foreign). The list always ends with (or holds) a kind='none' entry.
    """
    hyps, prior = _candidates(change, bins, max_qty, mixes and len(bins) > 1, foreign, priors)
    return _normalise(hyps, prior)


def explain_foreign(change: WeightChange, candidates: Iterable[tuple[str, float, float]],
                    bins: Sequence[BinOnCell] = (), max_qty: int = 4,
                    priors: Priors = DEFAULT_PRIORS) -> list[Hypothesis]:
    """A put whose weight may fit a product a person holds rather than one on the cell.

    candidates: (sku, unit_g, unit_sd_g) held by people near the shelf. Give `bins` to weigh the
    foreign explanations against the cell's own products (and 'none') in one normalised list.
    """
    hyps, prior = _candidates(change, bins, max_qty, len(bins) > 1, candidates, priors)
    return _normalise(hyps, prior)


def weight_mismatch(hyps: Sequence[Hypothesis], threshold: float = 0.5) -> bool:
    """True when 'nothing fits' is at least `threshold` probable: flag weight-mismatch."""
    return sum(h.prob for h in hyps if h.kind == "none") >= threshold
