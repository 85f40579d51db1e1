"""Cart-stage metrics against a recording's truth/ (issue 4's list), for `walkout evaluate` and the benchmark.

Engine visits are matched to truth visits by the gate scan's account. Engine events are matched
one to one with truth load events (take, put, restock: each moves units on a bin's cell) on the
same cell within 1 s. Hand-overs across parties are matched by the two accounts within
HAND_OVER_MATCH_S: found (either way round), and read right (giver, receiver and product); an engine
hand-over that passed a product and matches none is false.
"""
from __future__ import annotations

import json
import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from data.recording import Recording
from engine.evidence import Evidence
from engine.visit_confidence import chance_ece, expected_calibration_error

MATCH_S = 1.0
HAND_OVER_MATCH_S = 2.5  # the engine places a meeting where the hands reach furthest, up to ~0.5 s off the exchange
LOAD_KINDS = ("take", "put", "restock")


@dataclass
class VisitOutcome:
    visit: str
    account: str
    exact: bool
    status: str
    confidence: float
    engine: dict[str, int]
    truth: dict[str, int]
    reasons: list[str]


@dataclass
class CartReport:
    events_truth: int = 0
    events_engine: int = 0
    events_matched: int = 0
    association_right: int = 0
    association_by_crowd: dict[str, list[int]] = field(default_factory=dict)  # "0" | "1" | "2+" -> [right, all]
    lookalike_right: int = 0
    lookalike_all: int = 0
    visits: list[VisitOutcome] = field(default_factory=list)
    item_tp: int = 0
    item_fp: int = 0
    item_fn: int = 0
    overcharge_cents: int = 0
    undercharge_cents: int = 0
    truth_visits_missing: int = 0
    hand_overs_truth: int = 0  # across parties
    hand_overs_found: int = 0  # a meeting of the two parties read as a hand-over, either way round, any product
    hand_overs_right: int = 0  # ... read with the right giver, receiver and product
    hand_overs_false: int = 0  # engine hand-overs passing a product that match no truth hand-over

    def merge(self, o: CartReport) -> None:
        for k in ("events_truth", "events_engine", "events_matched", "association_right", "lookalike_right",
                  "lookalike_all", "item_tp", "item_fp", "item_fn", "overcharge_cents", "undercharge_cents",
                  "truth_visits_missing", "hand_overs_truth", "hand_overs_found", "hand_overs_right",
                  "hand_overs_false"):
            setattr(self, k, getattr(self, k) + getattr(o, k))
        for k, (r, n) in o.association_by_crowd.items():
            a = self.association_by_crowd.setdefault(k, [0, 0])
            a[0] += r
            a[1] += n
        self.visits += o.visits

    def summary(self) -> dict[str, float]:
        P = self.events_matched / max(self.events_engine, 1)
        R = self.events_matched / max(self.events_truth, 1)
        n = len(self.visits)
        auto = [v for v in self.visits if v.status == "auto"]
        conf = np.array([v.confidence for v in self.visits])
        right = np.array([v.exact for v in self.visits])
        ip = self.item_tp / max(self.item_tp + self.item_fp, 1)
        ir = self.item_tp / max(self.item_tp + self.item_fn, 1)
        return {
            "event_precision": P, "event_recall": R, "event_f1": 2 * P * R / max(P + R, 1e-9),
            "association": self.association_right / max(self.events_matched, 1),
            "lookalike_top1": self.lookalike_right / max(self.lookalike_all, 1),
            "lookalike_events": self.lookalike_all, "lookalike_right": self.lookalike_right,
            "events_matched": self.events_matched, "events_truth": self.events_truth,
            "events_engine": self.events_engine,
            "receipt_exact": float(right.mean()) if n else float("nan"),
            "item_f1": 2 * ip * ir / max(ip + ir, 1e-9),
            "overcharge_cents": self.overcharge_cents, "undercharge_cents": self.undercharge_cents,
            "visits": n, "review_rate": 1 - len(auto) / max(n, 1),
            "auto_exact": float(np.mean([v.exact for v in auto])) if auto else float("nan"),
            "auto_wrong": sum(not v.exact for v in auto),
            "ece": expected_calibration_error(conf, right),
            "ece_chance": chance_ece(conf)[0],
            "hand_overs": self.hand_overs_truth, "hand_overs_found": self.hand_overs_found,
            "hand_overs_right": self.hand_overs_right, "hand_overs_false": self.hand_overs_false,
        }

    def as_dict(self) -> dict:
        """The summary with its crowd split, risk-coverage and visits: what reports print and store."""
        return {**self.summary(), "association_by_crowd": self.association_by_crowd,
                "risk_coverage": self.risk_coverage(), "visit_rows": [v.__dict__ for v in self.visits]}

    def risk_coverage(self, coverages: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95, 0.98, 1.0)) -> list[tuple]:
        """(coverage, confidence at that coverage, accuracy of the most confident share)."""
        vs = sorted(self.visits, key=lambda v: -v.confidence)
        out = []
        for c in coverages:
            k = max(1, int(round(c * len(vs))))
            top = vs[:k]
            out.append((c, top[-1].confidence if top else float("nan"), float(np.mean([v.exact for v in top]))))
        return out


def _truth_load_events(rec: Recording) -> list[dict]:
    out = []
    for e in rec.truth_events():
        if e["kind"] in LOAD_KINDS:
            for _ in range(int(e.get("qty", 1))):
                out.append(e)
    return out


def _crowd(rec: Recording, e: dict, tj: np.ndarray, tt: np.ndarray, names: list[str]) -> str:
    i = int(np.argmin(np.abs(tt - e["t"])))
    if e["person"] not in names:
        return "0"
    p = names.index(e["person"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        floor = np.nanmean(tj[i, :, 15:17, :2], axis=1)
    d = np.linalg.norm(floor - floor[p], axis=1)
    n = int(np.sum(np.isfinite(d) & (d < 1.0))) - 1
    return "2+" if n >= 2 else str(max(n, 0))


def evaluate_cart(rec: Recording, ev: Evidence) -> CartReport:
    rep = CartReport()
    truth_ev = _truth_load_events(rec)
    rep.events_truth = len(truth_ev)
    rep.events_engine = len(ev.events)
    scans = {s["account"]: s for s in rec.gate_events()}
    acct_of_visit = {v.visit: v.account for v in ev.visits}
    z = np.load(rec.root / "truth" / "poses.npz")
    tt, names, tj = z["t"], [str(x) for x in z["people"]], z["joints"]
    sensor_of = {b.id: b.sensor for b in rec.store.bins}
    fam = rec.catalog.families()
    if truth_ev and ev.events:
        C = np.full((len(truth_ev), len(ev.events)), 1e6)
        for i, te in enumerate(truth_ev):
            for j, ee in enumerate(ev.events):
                dt = abs(ee.t0 - te["t"])
                if ee.sensor == sensor_of.get(te["bin"]) and dt <= MATCH_S:
                    C[i, j] = dt + (0.0 if ee.bin == te["bin"] else 0.5 * MATCH_S)  # same bin first
        ri, ci = linear_sum_assignment(C)
        for i, j in zip(ri, ci):
            if C[i, j] > 1.5 * MATCH_S:
                continue
            rep.events_matched += 1
            te, ee = truth_ev[i], ev.events[j]
            role = scans.get(te["account"], {}).get("role", "shopper")
            if role == "associate" or te["kind"] == "restock":
                ok = ee.visit is None and ee.kind in ("restock", "put", "misplaced_put", "take")
            else:
                ok = acct_of_visit.get(ee.visit) == te["account"]
            rep.association_right += ok
            k = _crowd(rec, te, tj, tt, names)
            a = rep.association_by_crowd.setdefault(k, [0, 0])
            a[0] += ok
            a[1] += 1
            family = rec.catalog.by_sku[te["sku"]].family
            if len(fam.get(family, [])) > 1:
                rep.lookalike_all += 1
                rep.lookalike_right += ee.sku == te["sku"]
    _score_hand_overs(rec, ev, acct_of_visit, rep)
    truth_visits = json.loads((rec.root / "truth" / "receipts.json").read_text())["visits"]
    by_acct = {v.account: v for v in ev.visits}
    price = {p.sku: p.price_cents for p in rec.catalog.products}
    for tv in truth_visits:
        truth = Counter({ln["sku"]: int(ln["qty"]) for ln in tv["lines"]})
        v = by_acct.get(tv["account"])
        if v is None:
            rep.truth_visits_missing += 1
            rep.visits.append(VisitOutcome("-", tv["account"], False, "missing", 0.0, {}, dict(truth), []))
            rep.item_fn += sum(truth.values())
            continue
        eng = Counter({ln.sku: ln.qty for ln in v.lines})
        exact = +eng == +truth
        rep.visits.append(VisitOutcome(v.visit, v.account, exact, v.status, v.confidence, dict(eng), dict(truth),
                                       v.reasons))
        for s in set(eng) | set(truth):
            rep.item_tp += min(eng[s], truth[s])
            rep.item_fp += max(eng[s] - truth[s], 0)
            rep.item_fn += max(truth[s] - eng[s], 0)
            rep.overcharge_cents += max(eng[s] - truth[s], 0) * price.get(s, 0)
            rep.undercharge_cents += max(truth[s] - eng[s], 0) * price.get(s, 0)
    return rep


def _score_hand_overs(rec: Recording, ev: Evidence, acct_of_visit: dict[str, str], rep: CartReport) -> None:
    """Hand-overs across parties: the truth's against the engine's, one to one by time."""
    truth = [e for e in rec.truth_events() if e["kind"] == "hand_over" and e.get("account") != e.get("to_account")]
    eng = [(float(h["t"]), acct_of_visit.get(h.get("from_visit")), acct_of_visit.get(h.get("to_visit")), h.get("sku"))
           for h in ev.hand_overs if h.get("sku") is not None]
    rep.hand_overs_truth += len(truth)
    used: set[int] = set()
    for e in sorted(truth, key=lambda e: e["t"]):
        pair = {e["account"], e["to_account"]}
        cands = [k for k, (t, a, b, _) in enumerate(eng)
                 if k not in used and abs(t - e["t"]) <= HAND_OVER_MATCH_S and {a, b} == pair]
        if not cands:
            continue
        k = min(cands, key=lambda k: abs(eng[k][0] - e["t"]))
        used.add(k)
        rep.hand_overs_found += 1
        _, a, b, sku = eng[k]
        rep.hand_overs_right += (a, b, sku) == (e["account"], e["to_account"], e["sku"])
    rep.hand_overs_false += len(eng) - len(used)


def format_cart_report(rep: CartReport) -> str:
    return "\n".join(format_cart_lines(rep.as_dict()))


def format_cart_lines(c: dict) -> list[str]:
    """The cart part of a report, from `CartReport.as_dict()` (the form `engine.evaluate.evaluate` returns), so
    that `walkout evaluate` and the benchmark print the same lines."""
    lines = [
        "cart (load-cell events, association, products, receipts)",
        f"  events: precision {c['event_precision']:.3f}  recall {c['event_recall']:.3f}  F1 {c['event_f1']:.3f}"
        f"  ({c['events_matched']} matched of {c['events_truth']} truth, {c['events_engine']} found)",
        f"  association {c['association']:.3f}  by others within 1 m: " + ", ".join(
            f"{k}: {r}/{n}" for k, (r, n) in sorted(c["association_by_crowd"].items())),
        f"  look-alike top-1 {c['lookalike_top1']:.3f} ({c['lookalike_right']}/{c['lookalike_events']})",
        f"  hand-overs across parties: {c['hand_overs']} in the truth, {c['hand_overs_found']} found, "
        f"{c['hand_overs_right']} read right; {c['hand_overs_false']} false",
        f"  receipts exact {c['receipt_exact']:.3f} of {c['visits']} visits   item F1 {c['item_f1']:.3f}   "
        f"overcharge {c['overcharge_cents'] / 100:.2f}   undercharge {c['undercharge_cents'] / 100:.2f}",
        f"  review rate {c['review_rate']:.3f}   auto-charged exact {c['auto_exact']:.4f} "
        f"({c['auto_wrong']} wrong)   ECE {c['ece']:.3f} (a calibrated engine: {c.get('ece_chance', float('nan')):.3f}"
        f" by chance on as many visits)",
        "  risk-coverage: " + "  ".join(f"{cv:.0%}@{th:.3f}->{acc:.3f}" for cv, th, acc in c["risk_coverage"]),
    ]
    for v in c["visit_rows"]:
        if v["status"] == "auto" and not v["exact"]:
            lines.append(f"  WRONG AUTO {v['visit']} {v['account']}: engine {v['engine']} truth {v['truth']} "
                         f"conf {v['confidence']}")
    return lines
