"""Whose party a hand belongs to, by how its body looks: re-identification at the moment of an event.

Tracks can swap between two people in a crowd or break and be born again away from the entry
with no account. The receipt only needs the *party* of the hand that moved an item, so at each
event the cart also compares the clothing look of the body the hand belongs to with how each
party's members looked as they came through the gate, when who-is-who was plainest. The look of
a body is only read where no other skeleton stands within `CLEAR_M`, where two people's pixels
cannot mix.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.run import Run

CLEAR_M = 0.8  # a look is trusted only when no other skeleton is nearer than this
MATCH_M = 0.3  # a track's floor point and a skeleton's within this are the same body
ENTRY_S = 4.0  # a party's signature is read over the first seconds after its tracks are born
LOOK_SD = 0.15  # spread of the (unit) look vectors' distance for one person across views and time
LOOK_FLOOR = 0.05  # a look never rules a party out entirely (lighting, occlusion)
# how likely a decision of the linker after a tangle left a track on another body than before it. Checked against the
# truth on the 19 labelled bench recordings, pairs (look, moment up to 15 s apart) of one track: the pairs these give a
# chance of 0.4-0.6, 0.6-0.8, 0.8-0.95, 0.95-0.999 of the same body were of the same body 0.53, 0.76, 0.88, 0.99 of
# the time (tracking with the linker's joint, deferred re-identification)
SWAP_AMBIGUOUS = 0.2
SWAP_CLEAR = 0.1  # a decision that just cleared the threshold; falls as 1 / (1 + (margin / 2 threshold)^1.5)
MERGE_S = 0.5  # places closer than this are one place (one crowd's pair tangles): the likeliest of them counts
LOOK_TAU_S = 5.0  # a look's weight also falls with its distance in time from the event (pose, light)
LOOK_MIN_KEEP = 0.2  # looks less likely than this to be of the same body are not used


def swap_probability(decision: dict, track_id: str) -> float:
    """P(the track follows another body after this re-identification decision than before it)."""
    if decision.get("ambiguous", True):
        return SWAP_AMBIGUOUS
    thr = float(decision.get("threshold") or 0.0)
    m = float(decision.get("margins", {}).get(track_id, decision.get("margin", 0.0)))
    if thr <= 0:
        return SWAP_AMBIGUOUS
    r = max(m / thr, 0.0)
    return float(SWAP_CLEAR / (1.0 + (r / 2.0) ** 1.5))


def swap_points(track) -> list[tuple[float, float, float]]:
    """(from s, to s, P(swap)) of each place the track may have changed bodies: the stretch of tangles each of the
    linker's decisions settled, and any tangle no decision settled (as ambiguous)."""
    out, prev, covered = [], -np.inf, set()
    for d in track.reid:
        mine = [(i, a, b) for i, (a, b, o) in enumerate(track.tangled)
                if o in d["tracks"] and prev < b <= d["t"] + 1e-6]
        covered |= {i for i, _, _ in mine}
        a0 = min([a for _, a, _ in mine] + [float(d["t_swap"])])
        b0 = max([b for _, _, b in mine] + [float(d["t_swap"])])
        prev = float(d["t"])
        out.append((a0, b0, swap_probability(d, track.id)))
    out += [(a, b, SWAP_AMBIGUOUS) for i, (a, b, _) in enumerate(track.tangled) if i not in covered]
    # one crowd gives a track several pair tangles one over the other; they are one chance of leaving it on another
    # body, not one each (counted apart, a track through a crowd is believed lost far more often than it is)
    merged: list[tuple[float, float, float]] = []
    for a, b, p in sorted(out):
        if merged and a <= merged[-1][1] + MERGE_S:
            a0, b0, p0 = merged[-1]
            merged[-1] = (a0, max(b0, b), max(p0, p))
        else:
            merged.append((a, b, p))
    return merged


def weighted_median(vs: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per component: the value where half the weight lies on either side."""
    out = np.empty(vs.shape[1])
    for j in range(vs.shape[1]):
        o = np.argsort(vs[:, j])
        c = np.cumsum(w[o])
        out[j] = vs[o[int(np.searchsorted(c, 0.5 * c[-1]))], j]
    return out


class TrackLooks:
    """Clean looks of each track over time, read from RUN/looks.npz."""

    def __init__(self, run: Run) -> None:
        self.run = run
        path = Path(run.root) / "looks.npz"
        P = len(run.people)
        self.looks: list[list[tuple[float, np.ndarray]]] = [[] for _ in range(P)]
        if not path.exists() or P == 0:
            return
        z = np.load(path)
        tick, xy, look = z["tick"], z["xy"].astype(float), z["look"].astype(float)
        for k in np.unique(tick):
            rows = np.flatnonzero(tick == k)
            pts = xy[rows]
            if len(rows) > 1:
                d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
                np.fill_diagonal(d, np.inf)
                clear = d.min(1) >= CLEAR_M
            else:
                clear = np.ones(1, bool)
            floor = run.floor[int(k)].astype(float)
            for r, ok in zip(rows, clear):
                if not ok or not np.isfinite(xy[r]).all():
                    continue
                dd = np.linalg.norm(floor - xy[r], axis=1)
                if not np.isfinite(dd).any():
                    continue
                p = int(np.nanargmin(dd))
                if dd[p] <= MATCH_M:
                    self.looks[p].append((float(run.t[int(k)]), look[r]))
        self.swaps = [swap_points(tr) for tr in run.tracks]

    def keep(self, track: int, a: float, b: float) -> float:
        """P(the track follows the same body at a and at b): no swap at any place it may have swapped in between."""
        lo, hi = min(a, b), max(a, b)
        return float(np.prod([1 - p for a0, b0, p in self.swaps[track] if a0 <= hi and b0 >= lo] or [1.0]))

    def near(self, track: int, t: float, far_s: float = 15.0) -> tuple[np.ndarray | None, float]:
        """The track's clean look near t, and how likely it is the look of the body the track follows at t.

        Each clean look within far_s is weighed by the chance the track followed the same body then and at t (no
        swap in the tangles between, `keep`) and by its distance in time; their weighted median is the look, the
        chance averaged with those weights how far it is trusted. A track that swapped bodies in a tangle looks
        like the body it follows now, the looks from before count less the less sure the linker was."""
        rows = [(tt, v) for tt, v in self.looks[track] if abs(tt - t) <= far_s]
        if not rows:
            return None, 0.0
        ts = np.array([tt for tt, _ in rows])
        q = np.array([self.keep(track, tt, t) for tt in ts])
        ok = q >= LOOK_MIN_KEEP
        if not ok.any():
            return None, 0.0
        w = q[ok] * np.exp(-np.abs(ts[ok] - t) / LOOK_TAU_S)
        return weighted_median(np.array([v for (_, v), o in zip(rows, ok) if o]), w), float((w * q[ok]).sum() / w.sum())

    def first(self, track: int, span_s: float = ENTRY_S) -> np.ndarray | None:
        """The track's median clean look over its first seconds."""
        if not self.looks[track]:
            return None
        t0 = self.looks[track][0][0]
        vs = [v for tt, v in self.looks[track] if tt - t0 <= span_s]
        return np.median(vs, axis=0)


def look_likelihood(look: np.ndarray | None, members: list[np.ndarray]) -> float:
    """How well a look fits any member of a party (1 when either side is unknown)."""
    if look is None or not members:
        return 1.0
    d = min(float(np.linalg.norm(look - m)) for m in members)
    return float(LOOK_FLOOR + (1 - LOOK_FLOOR) * np.exp(-0.5 * (d / LOOK_SD) ** 2))


class PartyOwners:
    """`owners(track, t)`: the parties a track's hand may belong to at t, with probabilities.

    The prior trusts the linker's account for the track (less so when the linker itself doubted
    the track), spreading the rest over the parties in the store then; the body's look near t
    against each party's look at the gate sharpens it. An associate's track is weighed the same
    way, its own account being no party (None: the hand is on no receipt) looked up by how the
    associates looked at the gate: a track that follows an associate can take over a shopper in
    a crowd, and what that shopper then takes is still theirs."""

    def __init__(self, run: Run, visits: list[tuple[str, float, list[int]]], visit_of: dict[int, str],
                 doubt_flags: tuple[str, ...], party_sizes: dict[str, int] | None = None) -> None:
        self.run, self.visit_of = run, visit_of
        self.looks = TrackLooks(run)
        self.span: dict[str, tuple[float, float]] = {}
        self.members: dict[str, list[np.ndarray]] = {}
        self.partners: dict[str, set[int]] = {}
        index = {str(p): k for k, p in enumerate(run.people)}
        party_sizes = party_sizes or {}
        for vid, entered, tracks in visits:
            t1 = max((run.tracks[k].t1 for k in tracks), default=entered)
            # a party is known gone only when every member was seen through the exit; one whose track was lost
            # (or never tracked) may be anywhere in the store until the end, under a track born mid-floor or
            # one that took it over, however long after its own track ended
            left = (bool(tracks) and all(run.tracks[k].ended_in_exit for k in tracks)
                    and len(tracks) >= party_sizes.get(vid, 0))
            self.span[vid] = (entered - 1.0, t1 + 1.0 if left else np.inf)
            # a member seen through the exit may have swapped bodies in a tangle on the way: the party may still be
            # in the store under the track it was tangled with
            self.partners[vid] = {index[o] for k in tracks for _, _, o in run.tracks[k].tangled if o in index}
            self.members[vid] = self._gate_looks(tracks)
        self.doubted = {k for k, tr in enumerate(run.tracks) if any(f in doubt_flags for f in tr.flags)}
        self.staff = {k for k, tr in enumerate(run.tracks) if tr.role == "associate"}
        self.staff_looks = self._gate_looks(sorted(self.staff))

    def _gate_looks(self, tracks: list[int]) -> list[np.ndarray]:
        """How these tracks looked as they came through the gate: only tracks born there on a clear scan."""
        firsts = [self.looks.first(k) for k in tracks
                  if self.run.tracks[k].born_in_entry and "account-ambiguous" not in self.run.tracks[k].flags]
        return [f for f in firsts if f is not None]

    def __call__(self, track: int, t: float) -> list[tuple[str | None, float]]:
        present = [v for v, (a, b) in self.span.items() if a <= t <= b or (t > a and track in self.partners[v])]
        staff = track in self.staff
        own = None if staff else self.visit_of.get(track)
        cands = list(dict.fromkeys(([own] if own or staff else []) + present))
        if not cands:
            return [(None, 1.0)]
        if own is None and not staff:
            prior = {v: 1.0 / len(cands) for v in cands}
        else:
            p_own = 0.6 if track in self.doubted else 0.92
            rest = [v for v in cands if v != own]
            prior = {own: p_own if rest else 1.0, **{v: (1 - p_own) / len(rest) for v in rest}}
        # the look is of another body with chance 1 - q, and then says nothing about the party
        look, q = self.looks.near(track, t)
        post = {v: prior[v] * (q * look_likelihood(look, self.staff_looks if v is None else self.members.get(v, []))
                               + 1 - q) for v in cands}
        z = sum(post.values())
        out = sorted(((v, p / z) for v, p in post.items() if p / z >= 0.005), key=lambda x: -x[1])
        return out or [(own, 1.0)]
