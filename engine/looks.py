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

    def near(self, track: int, t: float, window_s: float = 3.0, far_s: float = 15.0) -> np.ndarray | None:
        """The track's median clean look within window_s of t, else within far_s (None when it had none).

        The nearer window is preferred: a track that swapped bodies in a tangle looks like the body
        it follows now."""
        for w in (window_s, far_s):
            vs = [v for tt, v in self.looks[track] if abs(tt - t) <= w]
            if vs:
                return np.median(vs, axis=0)
        return None

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
            firsts = [self.looks.first(k) for k in tracks
                      if run.tracks[k].born_in_entry and "account-ambiguous" not in run.tracks[k].flags]
            self.members[vid] = [f for f in firsts if f is not None]
        self.doubted = {k for k, tr in enumerate(run.tracks) if any(f in doubt_flags for f in tr.flags)}
        self.staff = {k for k, tr in enumerate(run.tracks) if tr.role == "associate"}
        staff_firsts = [self.looks.first(k) for k in sorted(self.staff)
                        if run.tracks[k].born_in_entry and "account-ambiguous" not in run.tracks[k].flags]
        self.staff_looks = [f for f in staff_firsts if f is not None]

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
        look = self.looks.near(track, t)
        post = {v: prior[v] * look_likelihood(look, self.staff_looks if v is None else self.members.get(v, []))
                for v in cands}
        z = sum(post.values())
        out = sorted(((v, p / z) for v, p in post.items() if p / z >= 0.005), key=lambda x: -x[1])
        return out or [(own, 1.0)]
