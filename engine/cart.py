"""Stage 5 and the cart: each load-cell change read as who moved which product how many times.

Every change is explained by a set of hypotheses, one per (track, bin, product, count): the
weight's likelihood (the change against count x the product's unit weight), the hand's (how near
the track's hand came to the bin while the load changed), and where products of one family weigh
the same, the product classifier's view of the hand. Hypotheses only name products that can be
there: a take names what the bin holds now (misplaced returns included), a put names what the
track is carrying. The best hypothesis updates the carts and the bins; the others stay as the
ranked alternatives the reviewer sees, and their weight is what the visit's confidence loses.
"""
from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from typing import Callable, Protocol

import numpy as np

from data.store import Bin, Catalog, Store
from engine.hands import HandNear, hand_likelihood, hands_near, unseen_hands
from engine.run import Run
from engine.weight_hypotheses import count_loglik

QTY_PRIOR = {1: 0.85, 2: 0.11, 3: 0.03, 4: 0.01}
NOBODY = -1  # the hand of someone the tracker does not see
NOBODY_DISTANCE_M = 0.9  # an unseen hand scores like a seen one this far from the bin
MIN_POSTERIOR = 1e-4
PAIR_PRIOR = 0.5  # each one-unit reach beyond the first at once, against QTY_PRIOR[1] for one
MAX_REACHES = 3  # a change is read as at most this many one-unit reaches at once (a crowd at one cell)
REACH_MIN_LH = 0.01  # a reach into a crowd of three is only considered for hands this likely to be in
ACTIVE_HAND = 0.8  # how likely a hand in a bin while its cell's load changes took part in the change
SWAP_PRIOR = 0.25  # a take and a put by two hands at once on one cell, netted into one change, against one reach
SPLIT_JOIN_S = 0.6  # two changes split from one unstable stretch this close may be one take and one put netted
TAKE_VIEW_S = (1.2, 1.6, 2.0)  # after a take's load settles, when the hand holding the unit is drawn back in view
PUT_VIEW_S = (-1.8, -1.5, -1.2, -0.9)  # before a put's load changes, the unit in the hand on its way to the shelf
VIEWED_HANDS = 3  # the classifier looks at most at this many hands per change, likeliest first
VIEW_FLOOR = 0.02  # a view never rules a product out entirely (an empty hand's view sits at it: product_views.EMPTY_P)
OTHER_HAND = 0.35  # a unit a party mate took is in this hand only if passed over inside the party (unwatched)
LEVEL_RANGE_G = 1500.0  # an intermediate level's spread when it is no level of its own (two reaches overlapping)
# Who took, by what their hands hold after: the best cosine of a track's hand crops (either hand, TAKE_VIEW_S) to the
# product a take names, against how much likelier it is if that track took the unit than if another hand near the
# bin did. Measured on 763 (take, near track) pairs of the cart recordings 100-128 with two or more hands near:
# under 0.8 the taker's hands showed it 21 % of the time, the others' 76 %; from 0.96, 51 % against 6 %.
HELD_COS = (0.8, 0.875, 0.915, 0.945, 0.98)
HELD_LOG_LR = (-1.1, 0.0, 1.0, 1.2, 2.1)
HELD_MIN_SHARE = 0.01  # the hands of takes at least this likely are looked at, where two tracks or more compete


class Change(Protocol):
    """What the cart needs of a load-cell change (engine.weight_events.WeightChange has it)."""
    sensor: str
    t0: float
    t1: float
    delta_g: float
    sd_g: float
    flags: list[str]


ProductViewer = Callable[[float, int, str, list[str]], "np.ndarray | None"]
"""(time, track index, hand, candidate skus) -> probabilities over the candidates, or None if unseen; all equal
and low (product_views.EMPTY_P each) where the hand is seen holding none of them. A viewer with a `held` method of
the same signature (each candidate's best crop cosine: product_views.HandViewer.held) also says who took."""


@dataclass
class Hypothesis:
    kind: str  # take | put | misplaced_put | restock | unexplained
    track: int  # index into run.people, NOBODY when no tracked hand fits
    bin: str | None
    sku: str | None
    qty: int
    score: float  # unnormalised
    hand: str | None = None
    hand_m: float = float("nan")
    posterior: float = 0.0
    visit: str | None = None  # whose cart it changes (None: an associate's hand, or nobody tracked)
    also: Hypothesis | None = None  # a further reach read from the same change (several units at once)

    def parts(self) -> list[Hypothesis]:
        return [self] + (self.also.parts() if self.also is not None else [])


@dataclass
class Reading:
    """One change and what the cart made of it."""
    change: Change
    hypotheses: list[Hypothesis]  # best first, posteriors summing to 1
    hands: list[HandNear]
    viewed: bool = False  # the product classifier was asked
    evidence: float = 0.0  # the hypotheses' summed score: how well anything explains the change

    @property
    def best(self) -> Hypothesis:
        return self.hypotheses[0]


@dataclass
class Transfer:
    """A hand-over between two parties, as the cart applied it."""
    t: float
    giver: str  # visit ids
    receiver: str
    sku: str | None
    posterior: float
    alternatives: list[tuple[str, str, str | None, float]]  # (giver, receiver, sku or None = no hand-over, p)


def weight_likelihood(delta_g: float, sd_g: float, unit_g: float, unit_sd: float, signed_qty: int) -> float:
    return math.exp(count_loglik(delta_g, sd_g, unit_g, unit_sd, signed_qty))


# (party, "before" | "after", skus) -> the product classifier's view of the party's meeting hand at each of a few
# moments (None for a moment it was not seen), or None when never seen
HandOverViews = Callable[[str, str, list[str]], "list[np.ndarray | None] | None"]
HELD_ON_TOP = 0.7  # how often the product passing is the one a hand shows, beside the other units it holds
# how often a moment's view of a hand looks empty (no crop like any candidate: every candidate at VIEW_FLOOR) when the
# hand holds something (its wrist drawn off it, or the unit hidden), and when it holds nothing (an empty hand's crops
# mostly look like no product; beside another's hand they may). On the 27 hand-overs found in the cart recordings
# 100-138 the readings are best and steady for 0.3-0.5 and 0.7-0.9 (24 of 27 right; 23 when an empty hand counted as
# a view at the floor whatever it showed)
UNSEEN_WHEN_HELD = 0.3
EMPTY_WHEN_EMPTY = 0.8


def _shows(moments: list[np.ndarray | None] | None, skus: list[str], units: Counter[str],
           focus: str | None = None) -> float:
    """How likely a hand's views (one per moment) are if the hand holds `units` (weights), `focus` among them the
    product it shows HELD_ON_TOP of the time. A view that looks empty is UNSEEN_WHEN_HELD likely for a hand that
    holds something, EMPTY_WHEN_EMPTY for one that holds nothing; a view naming products is, for an empty hand,
    the classifier naming one of the candidates at random. 1 (no evidence) for moments not seen."""
    like = 1.0
    total = sum(units.values())
    for p in moments or []:
        if p is None:
            continue
        looks_empty = bool(np.all(np.asarray(p) <= VIEW_FLOOR + 1e-9))
        if total <= 0:
            like *= EMPTY_WHEN_EMPTY if looks_empty else (1.0 - EMPTY_WHEN_EMPTY) / len(skus)
            continue
        if looks_empty:
            like *= UNSEEN_WHEN_HELD
            continue
        mixed = sum(w * float(p[skus.index(sku)]) for sku, w in units.items()) / total
        shown = mixed if focus is None else HELD_ON_TOP * float(p[skus.index(focus)]) + (1.0 - HELD_ON_TOP) * mixed
        like *= (1.0 - UNSEEN_WHEN_HELD) * shown
    return like


def _explains(seen: dict[tuple[str, str], "list[np.ndarray | None] | None"], skus: list[str],
              hands: dict[str, Counter[str]], g: str, r: str, sku: str) -> float:
    """Likelihood of the four views of a meeting if sku passed from g to r (see hand_over_alternatives)."""
    g_after, r_after = Counter(hands[g]), Counter(hands[r])
    g_after[sku] -= min(1.0, g_after[sku])
    r_after[sku] += 1.0
    return (_shows(seen[(g, "before")], skus, hands[g], sku) * _shows(seen[(r, "after")], skus, r_after, sku)
            * _shows(seen[(g, "after")], skus, +g_after) * _shows(seen[(r, "before")], skus, hands[r]))


class Cart:
    """The store's state as the engine believes it: what each party carries and each bin holds.

    `owners(track, t)` says whose party a track's hand belongs to (a distribution: see
    engine.looks.PartyOwners); without it every hand is nobody's."""

    def __init__(self, store: Store, catalog: Catalog, run: Run, roles: list[str | None],
                 owners: Callable[[int, float], list[tuple[str | None, float]]] | None = None) -> None:
        self.store, self.catalog, self.run = store, catalog, run
        self.roles = roles
        self.owners = owners or (lambda track, t: [(None, 1.0)])
        self.carrying: dict[str, Counter[str]] = defaultdict(Counter)
        self.bins: dict[str, Counter[str]] = {b.id: Counter({b.sku: b.stock}) for b in store.bins}
        # which of a party's tracks took (or was handed) each unit it carries: a party shares one receipt, but
        # each person puts back or hands over what is in their own hands
        self.held: dict[str, Counter[tuple[int, str]]] = defaultdict(Counter)

    def own_hand(self, visit: str | None, track: int, sku: str, qty: int) -> float:
        """How likely `track` holds qty units of sku its party carries: 1 when it took them itself, OTHER_HAND
        when a party mate did (or nobody knows who)."""
        if visit is None or track < 0:
            return 1.0
        return 1.0 if self.held[visit][(track, sku)] >= qty else OTHER_HAND

    def _give(self, visit: str, track: int, sku: str, qty: int) -> None:
        """qty units of sku leave the party's hands: the track's own first, then any party mate's."""
        held = self.held[visit]
        keys = [(track, sku)] + [k for k in held if k[1] == sku and k[0] != track]
        for k in keys:
            n = min(qty, held[k])
            held[k] -= n
            qty -= n
            if held[k] <= 0:
                del held[k]
            if qty <= 0:
                break

    def _state(self):
        return ({v: Counter(c) for v, c in self.carrying.items()}, {k: Counter(c) for k, c in self.bins.items()},
                {v: Counter(c) for v, c in self.held.items()})

    def clone(self) -> Cart:
        """Another cart in the same state (one more branch of what may have happened)."""
        other = Cart(self.store, self.catalog, self.run, self.roles, self.owners)
        other._restore(self._state())
        return other

    def _restore(self, state) -> None:
        """Take over a state from `_state()` (already a copy, restored once: no second copy)."""
        carrying, bins, held = state
        self.carrying, self.bins, self.held = defaultdict(Counter, carrying), bins, defaultdict(Counter, held)

    def present(self, track: int, t: float) -> bool:
        info = self.run.tracks[track]
        return info.t0 - 1.0 <= t <= info.t1 + 1.0

    def hypotheses(self, ch: Change, near: list[HandNear], view: ProductViewer | None,
                   done: frozenset[int] = frozenset()) -> tuple[list[Hypothesis], bool]:
        hyps, viewed, _ = self._hypotheses(ch, near, view, done)
        return hyps, viewed

    def _hypotheses(self, ch: Change, near: list[HandNear], view: ProductViewer | None,
                    done: frozenset[int] = frozenset()) -> tuple[list[Hypothesis], bool, float]:
        """`done`: tracks that already did something in this unstable stretch (the change split from this one
        just before): a hand of theirs idle in this part is no sign that the reading missed someone."""
        bins = self.store.bins_on(ch.sensor)
        by_bin: dict[str, dict[int, HandNear]] = {}
        for h in near:
            if self.present(h.track, ch.t0):
                by_bin.setdefault(h.bin, {})[h.track] = h
        lightest = min((self.catalog.by_sku[s].weight_g for b in bins for s in self.bins[b.id]), default=50.0)
        singles: list[Hypothesis] = []
        units: list[tuple[Hypothesis, float, float]] = []  # one-unit takes, for two reaches at once
        swaps: list[tuple[Hypothesis, float, float]] = []  # one-unit takes and puts, for a take and a put at once
        owners_of: dict[int, list[tuple[str | None, float]]] = {}  # per track, once per change (not per bin)
        for b in bins:
            hands = by_bin.get(b.id, {})
            who = [(t, hand_likelihood(h.distance_m), h) for t, h in hands.items()]
            who.append((NOBODY, hand_likelihood(NOBODY_DISTANCE_M), None))
            for track, lh, h in who:
                role = self.roles[track] if track >= 0 else None
                if track not in owners_of:
                    # an associate's own hand is on no receipt (None), but its track may have taken over a shopper
                    owners_of[track] = [(None, 1.0)] if track == NOBODY else self.owners(track, ch.t0)
                owners = owners_of[track]
                for visit, p_owner in owners:
                    for kind, sku, q in self._what(ch, b, track, role, visit):
                        p = self.catalog.by_sku[sku]
                        lw = weight_likelihood(ch.delta_g, ch.sd_g, p.weight_g, p.weight_sd_g,
                                               q if kind != "take" else -q)
                        s = lw * lh * p_owner * QTY_PRIOR.get(q, 1e-3)
                        if kind in ("put", "misplaced_put"):
                            s *= self.own_hand(visit, track, sku, q)
                        hyp = Hypothesis(kind, track, b.id, sku, q, s, h.hand if h else None,
                                         h.distance_m if h else float("nan"), visit=visit)
                        if s > 0:
                            singles.append(hyp)
                        if kind == "take" and q == 1:
                            units.append((hyp, lh * p_owner, p.weight_g))
                    if track != NOBODY and lh * p_owner >= REACH_MIN_LH:  # a seen hand: h is its HandNear
                        for kind, sku, _ in self._what(ch, b, track, role, visit, both=True):
                            hyp = Hypothesis(kind, track, b.id, sku, 1, 0.0, h.hand, h.distance_m, visit=visit)
                            own = self.own_hand(visit, track, sku, 1) if kind != "take" else 1.0
                            swaps.append((hyp, lh * p_owner * own, self.catalog.by_sku[sku].weight_g))
        hyps = singles + self._pairs(ch, units) + self._swaps(ch, swaps)
        # a hand seen in one of the cell's bins most likely did something there: a reading that
        # leaves it idle pays for that (this is what tells two reaches from one person taking two)
        busy: dict[int, float] = {}
        for b_hands in by_bin.values():
            for t, h in b_hands.items():
                if t in done:
                    continue
                busy[t] = max(busy.get(t, 0.0), ACTIVE_HAND * hand_likelihood(h.distance_m))
        for hyp in hyps:
            used = {x.track for x in hyp.parts()}
            for t, p in busy.items():
                if t not in used:
                    hyp.score *= 1.0 - p
        # nothing fits the weight: keep an explicit 'unexplained' reading so the visit is held
        sd = max(ch.sd_g, 1.0)
        base = 1.0 / math.sqrt(2 * math.pi * (sd ** 2)) * math.exp(-0.5 * 16.0) * 0.01
        best_near = min(near, key=lambda h: h.distance_m, default=None)
        hyps.append(Hypothesis("unexplained", best_near.track if best_near else NOBODY,
                               best_near.bin if best_near else None, None, 0, base * (abs(ch.delta_g) > lightest / 2)
                               + 1e-300, best_near.hand if best_near else None,
                               best_near.distance_m if best_near else float("nan")))
        viewed = False
        if view is not None:
            viewed = self._held(ch, hyps, view)
            viewed = self._look(ch, hyps, view) or viewed
        total = sum(h.score for h in hyps)
        for h in hyps:
            h.posterior = h.score / total
        hyps.sort(key=lambda h: -h.posterior)
        return [h for h in hyps if h.posterior >= MIN_POSTERIOR] or hyps[:1], viewed, total

    def _pairs(self, ch: Change, units: list[tuple[Hypothesis, float, float]]) -> list[Hypothesis]:
        """Two or three one-unit takes at once on this cell (several people, or bins): their weights add up."""
        out = []
        likely = [u for u in units if u[1] >= REACH_MIN_LH]
        for k in range(2, MAX_REACHES + 1):
            for group in itertools.combinations(units if k == 2 else likely, k):
                if not self._can_reach_together([g[0] for g in group]):
                    continue
                prods = [self.catalog.by_sku[g[0].sku] for g in group]
                var_sd = math.sqrt(sum(p.weight_sd_g ** 2 for p in prods))
                lw = weight_likelihood(ch.delta_g, ch.sd_g, sum(g[2] for g in group), var_sd, -1)
                s = lw * math.prod(g[1] for g in group) * PAIR_PRIOR ** (k - 1)
                if s > 0:
                    out.append(self._chain([g[0] for g in group], s))
        return out

    def _swaps(self, ch: Change, units: list[tuple[Hypothesis, float, float]]) -> list[Hypothesis]:
        """One hand takes a unit while another puts one back on the same cell: the change is their difference."""
        out = []
        takes = [u for u in units if u[0].kind == "take"]
        puts = [u for u in units if u[0].kind != "take"]
        for (t, lt, wt), (p, lp, wp) in itertools.product(takes, puts):
            if t.track == p.track and (t.bin == p.bin or t.visit != p.visit or t.hand == p.hand):
                continue  # one hand does one thing at a time
            if t.visit is not None and t.visit == p.visit and t.sku == p.sku:
                continue  # taking one and putting back the same product is no change to the receipt
            sd = math.hypot(self.catalog.by_sku[t.sku].weight_sd_g, self.catalog.by_sku[p.sku].weight_sd_g)
            lw = weight_likelihood(ch.delta_g, ch.sd_g, wp - wt, sd, 1)
            s = lw * lt * lp * SWAP_PRIOR
            if s > 0:
                first, second = (t, p) if ch.delta_g < 0 else (p, t)
                out.append(self._chain([first, second], s))
        return out

    def _can_reach_together(self, reaches: list[Hypothesis]) -> bool:
        """Reaches that can be one change: one hand in one bin twice is qty 2, not two reaches; one hand has
        one owner and does one reach at a time (two bins at once are two hands); a bin gives only what it holds."""
        for a, b in itertools.combinations(reaches, 2):
            if a.track == b.track and a.track != NOBODY and (a.bin == b.bin or a.visit != b.visit or a.hand == b.hand):
                return False
        wanted = Counter((h.bin, h.sku) for h in reaches)
        return all(self.bins[b][s] >= n for (b, s), n in wanted.items())

    @staticmethod
    def _chain(reaches: list[Hypothesis], score: float) -> Hypothesis:
        """The first reach carries the group's score; the others hang from it as `also`."""
        tail = None
        for h in reversed(reaches[1:]):
            tail = Hypothesis(h.kind, h.track, h.bin, h.sku, 1, 0.0, h.hand, h.hand_m, visit=h.visit, also=tail)
        a = reaches[0]
        return Hypothesis(a.kind, a.track, a.bin, a.sku, 1, score, a.hand, a.hand_m, visit=a.visit, also=tail)

    def _what(self, ch: Change, b: Bin, track: int, role: str | None, visit: str | None, both: bool = False
              ) -> list[tuple[str, str, int]]:
        """(kind, sku, qty) this hand could have done at this bin, given what is where and what its party holds
        (`both`: one-unit takes and puts whichever way the load went)."""
        out = []
        if both:
            out += [("take", sku, 1) for sku, n in self.bins[b.id].items() if n > 0]
            if visit is not None:
                out += [("put" if sku == b.sku else "misplaced_put", sku, 1) for sku, n in self.carrying[visit].items()
                        if n > 0]
            return out
        if ch.delta_g < 0:  # units left the cell
            for sku, n in self.bins[b.id].items():
                for q in range(1, min(n, 4) + 1):
                    out.append(("take", sku, q))
        else:
            if track == NOBODY or (role == "associate" and visit is None):  # only the associate's own hand restocks
                out += [("restock", b.sku, q) for q in range(1, 5)]
            if visit is not None:
                for sku, n in self.carrying[visit].items():
                    for q in range(1, min(n, 4) + 1):
                        out.append(("put" if sku == b.sku else "misplaced_put", sku, q))
        return out

    def _look(self, ch: Change, hyps: list[Hypothesis], view: ProductViewer) -> bool:
        """Where equal-weight products compete, let the classifier's view of the hand weigh in (at the square root:
        between look-alikes it is often surer than right, and a clear margin between hands should stand).

        Each reading is weighed by the view of its own hand: what one shopper's hand holds says nothing of what
        another's took (two people at look-alike bins each hold their own). A hand's view is scaled to its best
        product, so a hand seen holding what its reading names keeps its score; readings by hands not looked at
        (nobody's, or too unlikely) take the likeliest hand's view. In a reading of several reaches at once, each
        further reach is weighed by its own hand's view where it was looked at."""
        total = sum(h.score for h in hyps)
        strong = [h for h in hyps if h.sku and h.score / total > 0.01]
        skus = sorted({x.sku for h in strong for x in h.parts() if x.sku})
        if len(skus) < 2:
            return False
        # after a take the unit is seen once the hand is drawn back from the shelf (as it leaves the bin the hand
        # and the shelf hide it); before a put it is in the hand already
        moments = [ch.t1 + dt for dt in TAKE_VIEW_S] if ch.delta_g < 0 else [ch.t0 + dt for dt in PUT_VIEW_S]
        hands: list[tuple[int, str]] = []
        for h in sorted(strong, key=lambda h: -h.score):
            for x in h.parts():
                if x.track >= 0 and x.hand is not None and (x.track, x.hand) not in hands:
                    hands.append((x.track, x.hand))
        seen: dict[tuple[int, str], dict[str, float]] = {}
        for key in hands[:VIEWED_HANDS]:
            logs = [np.log(np.clip(np.asarray(p, float), VIEW_FLOOR, 1.0)) for t in moments
                    if (p := view(t, key[0], key[1], skus)) is not None]
            if logs:
                q = np.exp(np.mean(logs, axis=0))
                seen[key] = dict(zip(skus, (q / q.max()) ** 0.5))
        if not seen:
            return False
        fallback = next(seen[k] for k in hands if k in seen)
        for h in hyps:
            p = seen.get((h.track, h.hand), fallback)
            if h.sku in p:
                h.score *= p[h.sku]
            for x in h.parts()[1:]:
                q = seen.get((x.track, x.hand), {})
                if x.sku in q:
                    h.score *= q[x.sku]
        return True

    def _held(self, ch: Change, hyps: list[Hypothesis], view: ProductViewer) -> bool:
        """Where two tracks or more may have taken, weigh each by whether its hands hold the product after (HELD_COS:
        a taker's hand shows it, the others' mostly do not). Each take in a reading is weighed by its own track's
        look at its own product; a track not seen keeps its score."""
        held = getattr(view, "held", None)
        if held is None or ch.delta_g >= 0:
            return False
        total = sum(h.score for h in hyps)
        takers: dict[int, set[str]] = defaultdict(set)
        for h in hyps:
            if h.score > HELD_MIN_SHARE * total:
                for x in h.parts():
                    if x.kind == "take" and x.track >= 0 and x.sku:
                        takers[x.track].add(x.sku)
        if len(takers) < 2:
            return False
        skus = sorted(set().union(*takers.values()))
        best: dict[int, dict[str, float]] = {}
        for track in takers:
            seen = [c for dt in TAKE_VIEW_S for hand in ("left", "right")
                    if (c := held(ch.t1 + dt, track, hand, skus)) is not None]
            if seen:
                best[track] = dict(zip(skus, np.max(seen, axis=0)))
        for h in hyps:
            for x in h.parts():
                if x.kind == "take" and x.sku in best.get(x.track, {}):
                    h.score *= math.exp(float(np.interp(best[x.track][x.sku], HELD_COS, HELD_LOG_LR)))
        return bool(best)

    def apply(self, hyp: Hypothesis) -> None:
        for h in hyp.parts():
            self._apply_one(h)

    def _apply_one(self, h: Hypothesis) -> None:
        if h.kind == "take":
            self.bins[h.bin][h.sku] -= h.qty
            if self.bins[h.bin][h.sku] <= 0:
                del self.bins[h.bin][h.sku]
            if h.visit is not None:
                self.carrying[h.visit][h.sku] += h.qty
                self.held[h.visit][(h.track, h.sku)] += h.qty
        elif h.kind in ("put", "misplaced_put"):
            self.bins[h.bin][h.sku] += h.qty
            if h.visit is not None:
                self.carrying[h.visit][h.sku] -= h.qty
                if self.carrying[h.visit][h.sku] <= 0:
                    del self.carrying[h.visit][h.sku]
                self._give(h.visit, h.track, h.sku, h.qty)
        elif h.kind == "restock":
            self.bins[h.bin][h.sku] += h.qty

    def read(self, ch: Change, view: ProductViewer | None = None, done: frozenset[int] = frozenset()) -> Reading:
        bins = self.store.bins_on(ch.sensor)
        near = hands_near(self.run, bins, ch.t0, ch.t1)
        near = unseen_hands(self.run, bins, ch.t0, ch.t1, near)
        hyps, viewed, total = self._hypotheses(ch, near, view, done)
        r = Reading(ch, hyps, near, viewed=viewed, evidence=total)
        self.apply(r.best)
        return r

    def read_split(self, a: Change, b: Change, view: ProductViewer | None = None) -> list[Reading]:
        """Two changes the load-cell reader split from one unstable stretch (an intermediate level): two
        reaches one after the other, or one take and one put overlapping, whose intermediate level is no
        level of either. Read both ways; keep the one the weights and hands explain better (the joined
        reading pays for leaving the intermediate level unexplained)."""
        state = self._state()
        first = self.read(a, view)
        # one stretch, one episode: a hand that reached in the first part has done its part, and one that
        # stayed idle there is still owed a reach in the second
        done = frozenset(x.track for x in first.best.parts() if x.track >= 0)
        apart = [first, self.read(b, view, done)]
        after = self._state()
        self._restore(state)
        joined = replace(a, t1=b.t1, delta_g=a.delta_g + b.delta_g, sd_g=a.sd_g / math.sqrt(1.5),
                         flags=sorted(set(a.flags) | set(b.flags)))
        if hasattr(a, "after_g") and hasattr(b, "after_g"):
            joined = replace(joined, after_g=b.after_g)
        one = self.read(joined, view)
        if one.evidence / LEVEL_RANGE_G > apart[0].evidence * apart[1].evidence:
            return [one]
        self._restore(after)
        return apart

    def hand_over(self, t: float, a: str, b: str, strength: float, views: HandOverViews | None = None,
                  tracks: dict[str, int] | None = None) -> Transfer:
        """Something may have passed between parties a and b at t (probability `strength`): who gave what.

        The reading applied is the likeliest receipt change (`hand_over_alternatives`): no hand-over when that
        is likelier than any one (giver, product); its posterior is what the visits' confidence keeps."""
        alts = self.hand_over_alternatives(a, b, strength, views, tracks)
        return self.apply_hand_over(t, a, b, alts[0], alts, tracks)

    def hand_over_alternatives(self, a: str, b: str, strength: float, views: HandOverViews | None = None,
                               tracks: dict[str, int] | None = None) -> list[tuple[str, str, str | None, float]]:
        """What may have passed at a meeting of parties a and b, likeliest first: (giver, receiver, sku or None
        for nothing, probability).

        `strength` is shared among the (giver, product) readings. A priori either party is as likely the giver,
        and each unit it carries as likely the one passed, the meeting hand's own units more than its party
        mates' (`tracks`: each party's track whose hand met). `views(party, "before" | "after", skus)` (the
        product classifier on each party's meeting hand before and after, when given) then weighs each reading
        by how well it explains all four views at once: the giver's hand shows the product before and what it
        keeps after, the receiver's what it has before and the product after. So a receiver's own item in its
        hand before the meeting is not read as passed the other way when the giver's hand never showed it and
        the receiver's shows the other product after."""
        tracks = tracks or {}
        options = [(g, r, sku) for g, r in ((a, b), (b, a)) for sku in self.carrying[g]]
        if not options:
            return [(a, b, None, 1.0)]
        hands = {p: self._hand_units(p, tracks.get(p, NOBODY)) for p in (a, b)}
        givers = {g for g, _, _ in options}
        weights = np.array([hands[g][sku] / sum(hands[g].values()) / len(givers) for g, _, sku in options])
        if views is not None:
            skus = sorted(set(self.carrying[a]) | set(self.carrying[b]))
            seen = {(p, when): views(p, when, skus) for p in (a, b) for when in ("before", "after")}
            weights = weights * np.array([_explains(seen, skus, hands, g, r, sku) for g, r, sku in options])
        weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(options), 1.0 / len(options))
        alts: list[tuple[str, str, str | None, float]] = [(a, b, None, 1.0 - strength)]
        alts += [(g, r, sku, float(strength * w)) for (g, r, sku), w in zip(options, weights)]
        alts.sort(key=lambda x: -x[3])
        return alts

    def _hand_units(self, visit: str, track: int) -> Counter[str]:
        """How likely each product the party carries is in its meeting hand: each unit the track itself took
        counts 1, a party mate's OTHER_HAND (own_hand)."""
        return Counter({sku: n * self.own_hand(visit, track, sku, 1) for sku, n in self.carrying[visit].items()})

    def apply_hand_over(self, t: float, a: str, b: str, pick: tuple[str, str, str | None, float],
                        alts: list[tuple[str, str, str | None, float]], tracks: dict[str, int] | None = None
                        ) -> Transfer:
        """Apply one of a meeting's alternatives (`pick`): the product moves from giver to receiver."""
        tracks = tracks or {}
        g, r, sku, p = pick
        if sku is None:
            return Transfer(t, a, b, None, p, alts)
        self.carrying[g][sku] -= 1
        if self.carrying[g][sku] <= 0:
            del self.carrying[g][sku]
        self._give(g, tracks.get(g, NOBODY), sku, 1)
        self.carrying[r][sku] += 1
        self.held[r][(tracks.get(r, NOBODY), sku)] += 1
        return Transfer(t, g, r, sku, p, alts)
