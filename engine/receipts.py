"""From a perception run and the load cells to receipts.json and evidence.json (the cart stage).

Visits are the shopper scans at the gate (a party shares one), in scan order; the linker has
tied each track to a scan. The load-cell changes and the possible hand-overs are read in time
order by one `Cart`, so a misplaced return is in its bin when somebody later takes from there.
"""
from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from data.recording import Recording, open_recording
from engine.cart import (LEVEL_RANGE_G, NOBODY, SPLIT_JOIN_S, VIEW_FLOOR, Cart, HandOverViews, Hypothesis,
                         ProductViewer, Reading, Transfer)
from engine.evidence import Alternative, Event, Evidence, LineEvidence, ReceiptLine, Visit
from engine.hands import UNSEEN_SEEN, Meeting, box_distance, hand_meetings, reach_steps, seen_at_reach
from engine.looks import PartyOwners
from engine.run import Run, load_run
from engine.visit_confidence import Calibration, VisitRisk, load_calibration

FAULT_FLAGS = ("dropout", "spike-nearby")
ALT_MIN = 0.01  # alternatives below this posterior are not shown
DOUBT = 0.05  # an alternative this likely names a reason
TRACK_DOUBTS = ("account-ambiguous", "reid-ambiguous", "reid-ambiguous-exit", "reid-swapped", "lost", "relinked",
                "reacquired", "stitched", "no-scan")
SHELF_CLEAR_M = 0.3  # hands meeting nearer a shelf than this are two reaches, not a hand-over
HANDS_MEET_M = 0.13  # hands this close, both held out, both people still: a hand-over
# two people face to face, reaching (hands.facing_meetings): 13 of 16 such stops in the cart recordings were hand-overs
FACING_PRIOR = 0.8
HELD_BEFORE_S = (-1.2, -0.9, -0.6)  # when the giver still holds the item at rest, before reaching out
HELD_AFTER_S = (0.8, 1.1, 1.4)  # when the receiver holds it, hand drawn back
FACING_BOTH_HANDS = True  # a facing meeting's product is read from either hand of each party (its wrists never met)
HAND_OVER_BRANCH = 0.5  # a hand-over reading this likely against the likeliest is followed as a branch of its own
HAND_OVER_WAYS = 3  # at most this many readings of one hand-over are followed
BEAM = 4  # branches kept: which reading of a hand-over was right shows in what the parties do after it
BESIDE_M = 0.8  # a tracked shopper this near the taker, unseen at the reach (hands.seen_at_reach), may have been the taker
BESIDE_LOOK_S = 4.0  # ... where last seen before or first seen after, within this long


@dataclass
class VisitSlot:
    id: str
    account: str
    entered_at: float
    party_size: int
    tracks: list[int]


def visits_of(rec: Recording, run: Run) -> tuple[list[VisitSlot], dict[int, str]]:
    """One visit per shopper scan, and which visit each shopper track belongs to."""
    slots: list[VisitSlot] = []
    by_account: dict[str, VisitSlot] = {}
    for scan in sorted(rec.gate_events(), key=lambda e: float(e["t"])):
        if scan["role"] != "shopper":
            continue
        v = VisitSlot(f"v-{len(slots) + 1:04d}", str(scan["account"]), float(scan["t"]), int(scan["party_size"]), [])
        slots.append(v)
        by_account.setdefault(v.account, v)
    of: dict[int, str] = {}
    for k, tr in enumerate(run.tracks):
        v = by_account.get(tr.account) if tr.account and tr.role != "associate" else None
        if v is not None:
            v.tracks.append(k)
            of[k] = v.id
    return slots, of


Effect = tuple[tuple[str, str, int], ...]  # ((visit, sku, signed units), ...) a reading puts on receipts


def _effect(h: Hypothesis) -> Effect:
    """What a hypothesis changes on receipts: units added (take) or removed (put) per visit and sku."""
    acc: Counter[tuple[str, str]] = Counter()
    for part in h.parts():
        v = part.visit
        if v is None or part.kind not in ("take", "put", "misplaced_put"):
            continue
        acc[(v, part.sku)] += part.qty if part.kind == "take" else -part.qty
    return tuple(sorted((v, s, n) for (v, s), n in acc.items() if n))


def _share(effect: Effect, visit: str) -> tuple[tuple[str, int], ...]:
    return tuple((s, n) for v, s, n in effect if v == visit)


def _group(hyps: list[Hypothesis], key: Callable[[Hypothesis], object],
           part: Callable[[Hypothesis], Hypothesis] = lambda h: h) -> list[tuple[object, float, Hypothesis]]:
    """Posterior per key over the hypotheses, each read at `part(h)` (the reach of h the key is asked of); with
    the first such reach of each key (for its track)."""
    acc: dict[object, list] = {}
    for h in hyps:
        x = part(h)
        k = key(x)
        if k not in acc:
            acc[k] = [0.0, x]
        acc[k][0] += h.posterior
    return sorted(((k, p, h) for k, (p, h) in acc.items()), key=lambda x: -x[1])


def _counterpart(h: Hypothesis, reach: Hypothesis, by_hand: bool) -> Hypothesis:
    """The reach of hypothesis h that answers a question about one reach of the best reading: who reached
    into that bin (`by_hand` False: the same bin, that hand's first), or what that hand took (the same hand,
    at that bin first, else the same bin). A reading with no such reach answers with its first."""
    ps = h.parts()
    same_bin = [x for x in ps if x.bin == reach.bin]
    if by_hand:
        same_hand = [x for x in ps if x.track == reach.track]
        order = [x for x in same_hand if x.bin == reach.bin] or same_hand or same_bin
    else:
        order = [x for x in same_bin if x.track == reach.track] or same_bin
    return order[0] if order else h


def read_store_activity(rec: Recording, run: Run, changes: dict[str, list], viewer: ProductViewer | None,
                        slots: list[VisitSlot], visit_of: dict[int, str]) -> tuple[Cart, list[Reading], list[Transfer]]:
    """Replay the recording's changes and hand meetings through one cart."""
    owners = PartyOwners(run, [(v.id, v.entered_at, v.tracks) for v in slots], visit_of, TRACK_DOUBTS,
                         {v.id: v.party_size for v in slots})
    cart = Cart(rec.store, rec.catalog, run, [t.role for t in run.tracks], owners)
    timeline: list[tuple[float, int, object]] = [(c.t0, 0, c) for cs in changes.values() for c in cs]
    shelves = [(np.asarray(sh.min, float), np.asarray(sh.max, float)) for sh in rec.store.shelves]
    for m in hand_meetings(run):
        va, vb = (owners(m.a, m.t)[0][0] if cart.roles[m.a] != "associate" else None,
                  owners(m.b, m.t)[0][0] if cart.roles[m.b] != "associate" else None)
        m.owners = (va, vb)
        if va and vb and va != vb and not _reaching_into_shelf(rec, m, shelves, changes):
            timeline.append((m.t, 1, m))
    timeline.sort(key=lambda x: (x[0], x[1]))
    return replay(cart, timeline, viewer)


def replay(cart: Cart, timeline: list[tuple[float, int, object]], viewer: ProductViewer | None
           ) -> tuple[Cart, list[Reading], list[Transfer]]:
    """Read the changes (kind 0) and hand-overs (kind 1, meetings of two parties) in time order. A hand-over
    whose product the view cannot tell is followed both (up to three) ways, each in a cart of its own: what the
    parties do after it (a put back of what one still holds, or cannot) shows which was right. The branches
    kept are the likeliest; the likeliest at the end is the cart's reading. The branches look at the same
    hands: the viewer (product_views.HandViewer) keeps what it cropped."""
    beams = [_Branch(0.0, cart, [], [])]
    joined_next: set[int] = set()  # changes already read with the one before them
    for n, (_, kind, item) in enumerate(timeline):
        if kind == 0 and id(item) in joined_next:
            continue
        nxt = _split_partner(timeline, n) if kind == 0 else None
        if nxt is not None:
            joined_next.add(id(nxt))
        grown: list[_Branch] = []
        for br in beams:
            if kind == 0:
                got = br.cart.read_split(item, nxt, viewer) if nxt is not None else [br.cart.read(item, viewer)]
                # how well this branch's carts explain the change: its total evidence (a joined split pays for
                # leaving the intermediate level unexplained)
                ev = sum(math.log(max(r.evidence, 1e-300)) for r in got)
                if nxt is not None and len(got) == 1:
                    ev -= math.log(LEVEL_RANGE_G)
                grown.append(_Branch(br.logp + ev, br.cart, br.readings + got, br.transfers))
                continue
            strength = hand_over_strength(item, viewer, br.cart)
            views = _hand_over_views(viewer, item) if viewer is not None else None
            tracks = {item.owners[0]: item.a, item.owners[1]: item.b}
            alts = br.cart.hand_over_alternatives(item.owners[0], item.owners[1], strength, views, tracks)
            picks = alts[:1] + [x for x in alts[1:HAND_OVER_WAYS] if x[3] >= HAND_OVER_BRANCH * alts[0][3]]
            for k, pick in enumerate(picks):
                c = br.cart.clone() if k < len(picks) - 1 else br.cart
                tr = c.apply_hand_over(item.t, item.owners[0], item.owners[1], pick, alts, tracks)
                grown.append(_Branch(br.logp + math.log(max(pick[3], 1e-300)), c, br.readings, br.transfers + [tr]))
        beams = _prune(grown)
    best = max(beams, key=lambda b: b.logp)
    return best.cart, best.readings, best.transfers


@dataclass
class _Branch:
    """One account of what happened so far: its carts, readings and hand-overs, and how likely (log)."""
    logp: float
    cart: Cart
    readings: list[Reading]
    transfers: list[Transfer]


def _prune(beams: list[_Branch]) -> list[_Branch]:
    """The BEAM likeliest branches, one per state of the carts (two ways to one state: the likelier)."""
    out: list[_Branch] = []
    seen: set = set()
    for b in sorted(beams, key=lambda b: -b.logp):
        key = tuple(sorted((v, tuple(sorted(c.items()))) for v, c in b.cart.carrying.items() if c))
        if key in seen:
            continue
        seen.add(key)
        out.append(b)
        if len(out) == BEAM:
            break
    return out


def _split_partner(timeline: list[tuple[float, int, object]], n: int):
    """The change split from the same unstable stretch of one cell just after timeline[n]'s, if any."""
    c = timeline[n][2]
    if "overlap" not in c.flags:
        return None
    for t, kind, other in timeline[n + 1:]:
        if t > c.t1 + SPLIT_JOIN_S:
            return None
        if kind == 0 and other.sensor == c.sensor:
            return other if "overlap" in other.flags else None
    return None


def _reaching_into_shelf(rec: Recording, m: Meeting, shelves: list[tuple[np.ndarray, np.ndarray]],
                         changes: dict[str, list]) -> bool:
    """Hands meeting at a shelf are two reaches when a cell there changed load then; a hand-over moves none."""
    p = np.asarray(m.point)
    if not any(box_distance(p, lo, hi) < SHELF_CLEAR_M for lo, hi in shelves):
        return False
    cells = {b.sensor for b in rec.store.bins
             if box_distance(p, np.asarray(b.min, float), np.asarray(b.max, float)) < SHELF_CLEAR_M}
    return any(abs(c.t0 - m.t) <= 2.0 for s in cells for c in changes.get(s, []))


def _held_fit(viewer: ProductViewer, track: int, hand: str, t: float, offsets: tuple[float, ...],
              skus: list[str]) -> np.ndarray | None:
    """Mean log-probability of each product in one hand over a few moments (None when never seen)."""
    logs = []
    for dt in offsets:
        p = viewer(t + dt, track, hand, skus)
        if p is not None:
            logs.append(np.log(np.clip(np.asarray(p, float), VIEW_FLOOR, 1.0)))
    return np.mean(logs, axis=0) if logs else None


def _either_hand_fit(viewer: ProductViewer, track: int, hand: str, t: float, offsets: tuple[float, ...],
                     skus: list[str]) -> np.ndarray | None:
    """_held_fit of whichever of the track's two hands fits each product better."""
    fits = [f for h in ("left", "right") if (f := _held_fit(viewer, track, h, t, offsets, skus)) is not None]
    return np.max(fits, axis=0) if fits else None


def _reads_either_hand(m: Meeting) -> bool:
    """Whether a meeting's product is read from either hand of each party: at a facing meeting, whose wrists never
    met (which arm reached is the skeleton's guess, and a misplaced wrist looks empty); else the hand held out."""
    return m.kind == "facing" and FACING_BOTH_HANDS


def _fit_of(m: Meeting) -> Callable[..., np.ndarray | None]:
    """How a meeting's hands are read over a few moments (`_reads_either_hand`)."""
    return _either_hand_fit if _reads_either_hand(m) else _held_fit


def _hand_sides(m: Meeting) -> dict[str | None, tuple[int, str]]:
    """Each party at a meeting: its track and the hand that track held out."""
    return {m.owners[0]: (m.a, m.hands[0]), m.owners[1]: (m.b, m.hands[1])}


def hand_over_strength(m: Meeting, viewer: ProductViewer | None, cart: Cart) -> float:
    """How likely a meeting of two parties' hands passed something. Measured on truth poses: true
    hand-overs meet within 0.13 m (16 of 18), passers-by from 0.15 m: that is the prior. The view of the
    two hands then weighs it: how much likelier what they showed is if one of the parties' units moved
    across than if each hand kept what it held (`_passing_ratio`)."""
    prior = FACING_PRIOR if m.kind == "facing" else 0.95 if m.distance_m < HANDS_MEET_M else 0.4
    lr = _passing_ratio(viewer, m, cart) if viewer is not None else None
    if lr is None:
        return prior
    odds = prior / (1.0 - prior) * lr
    return float(odds / (1.0 + odds))


def _passing_ratio(viewer: ProductViewer, m: Meeting, cart: Cart) -> float | None:
    """How much likelier the views of the two held-out hands are if a unit passed than if nothing did, each
    unit either party carries a priori as likely the one passed. A unit s passed from g to r shows in g's hand
    before and r's after; had nothing passed, it would be in g's hand after and in r's before only if r had one
    already: the ratio for s is g_before(s) r_after(s) / (g_after(s) r_before(s)). None when a hand is never
    seen or neither party carries anything."""
    side = _hand_sides(m)
    skus = sorted(set(cart.carrying[m.owners[0]]) | set(cart.carrying[m.owners[1]]))
    if not skus:
        return None
    fit_of = _fit_of(m)
    num, den = 0.0, 0.0
    for g, r in (m.owners, m.owners[::-1]):
        n = np.array([cart.carrying[g][s] for s in skus], float)
        if not n.any():
            continue
        fits = [fit_of(viewer, *side[h], m.t, offs, skus)
                for h, offs in ((g, HELD_BEFORE_S), (r, HELD_AFTER_S), (g, HELD_AFTER_S), (r, HELD_BEFORE_S))]
        if any(f is None for f in fits):
            return None
        g_before, r_after, g_after, r_before = fits
        num += float(np.sum(n * np.exp(g_before + r_after - g_after - r_before)))
        den += float(n.sum())
    return num / den if den else None


def _hand_over_views(viewer: ProductViewer, m: Meeting) -> HandOverViews:
    """What each party's meeting hand shows before the meeting (the giver's still holds the item at rest) and
    after it (the receiver's holds it, hand drawn back), one view per moment of HELD_BEFORE_S / HELD_AFTER_S:
    the cart weighs every reading by all four (Cart.hand_over_alternatives). At a facing meeting each moment
    takes each product from whichever hand fits it better (`_reads_either_hand`). Where the two hands meet both
    are in one crop, so that moment says little and is not looked at."""
    side = _hand_sides(m)
    either = _reads_either_hand(m)

    def views(party: str, when: str, skus: list[str]) -> list[np.ndarray | None]:
        track, hand = side[party]
        out: list[np.ndarray | None] = []
        for dt in HELD_BEFORE_S if when == "before" else HELD_AFTER_S:
            seen = [np.asarray(p, float) for h in (("left", "right") if either else (hand,))
                    if (p := viewer(m.t + dt, track, h, skus)) is not None]
            out.append(np.max(seen, axis=0) if seen else None)  # either hand: each product from the hand it fits
        return out
    return views


def unseen_beside(run: Run, taker: int, t0: float, t1: float) -> list[int]:
    """Tracks present at a change (t0..t1) but without a skeleton through most of it, seen nearby within
    BESIDE_M of the taker: someone crouching beside a neighbour is often merged into the neighbour's
    detection, and their reach then shows as the neighbour's hand."""
    if taker < 0:
        return []
    tm = 0.5 * (t0 + t1)
    ki = int(np.argmin(np.abs(run.t - tm)))
    at = run.floor[ki, taker]
    if not np.isfinite(at).all():
        return []
    reach = reach_steps(run, t0, t1)
    around = (run.t >= t0 - BESIDE_LOOK_S) & (run.t <= t1 + BESIDE_LOOK_S) & ~reach
    seen_share = seen_at_reach(run, t0, t1)
    out = []
    for j, tr in enumerate(run.tracks):
        if j == taker or not tr.t0 < tm < tr.t1:
            continue
        if seen_share[j] >= UNSEEN_SEEN:
            continue  # seen at the reach: association weighed their hands
        seen = np.flatnonzero(around & np.isfinite(run.floor[:, j]).all(-1))
        if len(seen) and np.min(np.linalg.norm(run.floor[seen, j] - at, axis=-1)) < BESIDE_M:
            out.append(j)
    return out


@dataclass
class CartResult:
    evidence: Evidence
    risks: dict[str, VisitRisk]  # per visit: what its confidence was made from (calibration uses it)


def build_evidence(rec: Recording, run: Run, changes: dict[str, list], viewer: ProductViewer | None = None,
                   calibration: Calibration | None = None) -> CartResult:
    cal = calibration or load_calibration()
    slots, visit_of = visits_of(rec, run)
    cart, readings, transfers = read_store_activity(rec, run, changes, viewer, slots, visit_of)
    ids = [str(p) for p in run.people]
    track_id = lambda k: ids[k] if k >= 0 else None  # noqa: E731
    gaps = run.manifest.get("camera_gaps", [])

    events: list[Event] = []
    per_visit: dict[str, dict] = {v.id: {"raw": 1.0, "gaps": 0, "faults": 0, "untracked": 0, "events": 0,
                                         "unseen": 0,
                                         "reasons": set(), "line_events": defaultdict(list),
                                         "line_alts": defaultdict(Counter), "line_conf": defaultdict(lambda: 1.0)}
                                  for v in slots}
    for n, r in enumerate(readings, start=1):
        ch, best = r.change, r.best
        eff = _effect(best)
        same = (lambda h: _effect(h) == eff) if eff else \
            (lambda h: not _effect(h) and (h.kind, h.bin, h.sku, h.qty) == (best.kind, best.bin, best.sku,
                                                                                       best.qty))
        conf = sum(h.posterior for h in r.hypotheses if same(h))
        reasons: list[str] = []
        # per reach of the best reading: who reached into its bin, and what its hand took, over all readings
        whose = lambda h: h.visit or ("nobody" if h.track == NOBODY else "associate")  # noqa: E731
        with_sku = [h for h in r.hypotheses if h.sku]
        per_reach = [(_group(r.hypotheses, whose, lambda h, p=p: _counterpart(h, p, False)),
                      _group(with_sku, lambda x: x.sku, lambda h, p=p: _counterpart(h, p, True)),
                      _group(with_sku, lambda x: x.qty, lambda h, p=p: _counterpart(h, p, True)))
                     for p in best.parts()]
        if any(len(sh) > 1 and sh[1][1] >= DOUBT for sh, _, _ in per_reach):
            reasons.append("ambiguous-shopper")
        for _, products, _ in per_reach:
            doubtful = [str(k) for k, p, _ in products if p >= DOUBT]
            if len(doubtful) > 1 and len({rec.catalog.by_sku[k].family for k in doubtful}) < len(doubtful):
                reasons.append("look-alike")
                break
        if best.kind == "unexplained":
            reasons.append("weight-mismatch")
        if any(f in ch.flags for f in FAULT_FLAGS):
            reasons.append("sensor-fault")
        if any(g["from"] - 1.0 <= ch.t1 and g["to"] + 1.0 >= ch.t0 for g in gaps):
            reasons.append("camera-gap")
        nobody = sum(h.posterior for h in r.hypotheses if any(
            x.track == NOBODY or (x.track not in visit_of and x.kind == "take") for x in h.parts()))
        if best.kind == "unexplained":
            reasons.append("unexplained-event")
        elif nobody >= DOUBT:
            reasons.append("untracked-person")
        hidden = {j for part in best.parts() if part.kind in ("take", "put")
                  for j in unseen_beside(run, part.track, ch.t0, ch.t1)}
        hidden_visits = {visit_of.get(j) for j in hidden} - {None}
        if hidden:
            reasons.append("unseen-beside")
        ids_here = []
        line_alts: dict[str, Counter] = defaultdict(Counter)  # each line's product alternatives, from its reaches
        for k, part in enumerate(best.parts()):
            eid = f"e-{n:04d}" + ("" if k == 0 else "bcdefgh"[k - 1])
            ids_here.append(eid)
            shoppers, products, counts = per_reach[k]
            if part.sku:
                for k2, p, _ in products:
                    if k2 != part.sku and p >= ALT_MIN:
                        line_alts[part.sku][str(k2)] = max(line_alts[part.sku][str(k2)], p)
            hand = next((x for x in r.hands if x.track == part.track and x.bin == part.bin), None)
            pv_id = part.visit
            events.append(Event(
                id=eid, sensor=ch.sensor, t0=round(ch.t0, 3), t1=round(ch.t1, 3), delta_g=round(ch.delta_g, 1),
                sd_g=round(ch.sd_g, 2), kind=part.kind, bin=part.bin, sku=part.sku, qty=part.qty,
                visit=pv_id if part.kind in ("take", "put", "misplaced_put", "unexplained") else None,
                track=track_id(part.track), hand=part.hand, confidence=round(float(conf), 4),
                shoppers=[Alternative(str(k2), round(p, 4), track_id(h.track)) for k2, p, h in shoppers
                          if p >= ALT_MIN],
                products=[Alternative(str(k2), round(p, 4)) for k2, p, _ in products if p >= ALT_MIN],
                counts=[Alternative(int(k2), round(p, 4)) for k2, p, _ in counts if p >= ALT_MIN],
                hand_path=hand.path if hand else [], reasons=reasons + (["two-reaches"] if best.also else [])))
        # every visit this event could touch loses what it is not sure of
        involved = {v for h in r.hypotheses for v, _, _ in _effect(h)}
        near_visits = {visit_of.get(x.track) for x in r.hands if x.distance_m < 0.6} - {None}
        near_visits = {v for v in near_visits if v in per_visit}
        charged = {part.visit for part in best.parts()} if hidden else set()
        for v in (hidden_visits | charged) & set(per_visit):  # the one charged, and the unseen one's (lacking it?)
            per_visit[v]["unseen"] += 1
            per_visit[v]["reasons"].add("unseen-beside")
        for v in involved | near_visits:
            pv = per_visit[v]
            mine = _share(eff, v)
            p_right = sum(h.posterior for h in r.hypotheses if _share(_effect(h), v) == mine)
            pv["raw"] *= p_right
            if v in involved:
                pv["reasons"].update(reasons)
                pv["gaps"] += "camera-gap" in reasons
                pv["faults"] += "sensor-fault" in reasons
                pv["untracked"] += "untracked-person" in reasons or "unexplained-event" in reasons
            for sku, _ in mine:
                pv["events"] += 1
                pv["line_events"][sku] += ids_here
                pv["line_conf"][sku] *= p_right
                pv["line_alts"][sku].update(line_alts[sku])
            if v in near_visits and best.kind == "unexplained":
                pv["reasons"].update(("weight-mismatch", "unexplained-event"))
                pv["untracked"] += 1
    hand_overs = []
    for tr in transfers:
        hand_overs.append({"t": round(tr.t, 3), "from_visit": tr.giver, "to_visit": tr.receiver, "sku": tr.sku,
                           "confidence": round(tr.posterior, 4),
                           "alternatives": [{"from_visit": g, "to_visit": x, "sku": s, "score": round(p, 4)}
                                            for g, x, s, p in tr.alternatives]})
        for v in {tr.giver, tr.receiver} - {None}:
            pv = per_visit[v]
            pv["raw"] *= tr.posterior
            pv["reasons"].add("hand-over")

    # items a hand nobody's visit owns took: some receipt present then is missing them
    orphan_t = [r.change.t0 for r in readings for part in r.best.parts()
                if part.kind == "take" and part.visit is None and
                (part.track == NOBODY or cart.roles[part.track] != "associate")]
    visits: list[Visit] = []
    risks: dict[str, VisitRisk] = {}
    lines_ev: list[LineEvidence] = []
    for slot in slots:
        pv = per_visit[slot.id]
        held = cart.carrying[slot.id]
        tangles = sum(1 for k in slot.tracks for a, b, other in run.tracks[k].tangled
                      if not any(ids[j] == other for j in slot.tracks))
        doubts = sum(1 for k in slot.tracks for f in run.tracks[k].flags if f in TRACK_DOUBTS)
        doubts += max(slot.party_size - len(slot.tracks), 0)
        t_in = min((run.tracks[k].t0 for k in slot.tracks), default=slot.entered_at)
        t_out = max((run.tracks[k].t1 for k in slot.tracks), default=slot.entered_at)
        orphans = sum(1 for t in orphan_t if t_in - 1 <= t <= t_out + 1)
        risk = VisitRisk(raw=pv["raw"], tangles=tangles, gaps=pv["gaps"], faults=pv["faults"],
                         untracked=pv["untracked"], events=pv["events"], track_doubts=doubts, orphans=orphans,
                         unseen_beside=pv["unseen"])
        conf = cal.confidence(risk)
        reasons = set(pv["reasons"])
        if tangles:
            reasons.add("tangled-state")
        if doubts:
            reasons.add("ambiguous-track")
        if orphans:
            reasons.add("untracked-person")
        lines = []
        for sku in sorted(s for s in held if held[s] > 0):
            p = rec.catalog.by_sku[sku]
            lines_ev.append(LineEvidence(slot.id, len(lines), sku, pv["line_events"][sku],
                                         [Alternative(s, round(x, 4)) for s, x in
                                          pv["line_alts"][sku].most_common(5)]))
            lines.append(ReceiptLine(sku, int(held[sku]), p.price_cents, round(float(pv["line_conf"][sku]), 4)))
        exits = [run.tracks[k].t1 for k in slot.tracks if run.tracks[k].ended_in_exit]
        status = "auto" if conf >= cal.threshold else "review"
        visits.append(Visit(slot.id, slot.account, round(slot.entered_at, 3), round(max(exits), 3) if exits else None,
                            status, round(conf, 4), sorted(reasons) if status == "review" else [], lines,
                            [ids[k] for k in slot.tracks]))
        risks[slot.id] = risk
    return CartResult(Evidence(rec.id, visits, events, lines_ev, cal.threshold, hand_overs), risks)


def run_cart(rec_root: Path, run_dir: Path, viewer_factory: Callable[[Recording, Run], ProductViewer | None] | None
             = None, calibration: Calibration | None = None, write: bool = True) -> tuple[CartResult, float]:
    """Read the load cells, replay the cart, write receipts.json and evidence.json into the run."""
    from engine.weight_events import changes_of_recording

    t0 = time.perf_counter()
    rec = open_recording(rec_root)
    run = load_run(run_dir)
    changes = changes_of_recording(rec)
    viewer = viewer_factory(rec, run) if viewer_factory else None
    try:
        res = build_evidence(rec, run, changes, viewer, calibration)
    finally:
        if viewer is not None and hasattr(viewer, "close"):
            viewer.close()  # the classifier's camera streams
    if write:
        res.evidence.write(run_dir)
    return res, time.perf_counter() - t0
