"""Where each tracked person's hands were around a load-cell event: the "who" of stage 5.

The wrist is the least certain joint of a triangulated skeleton, so a hand is scored by the
nearer of two points to the bin: the wrist itself and the forearm carried a little past it
(elbow to wrist, extended). A hand's distance to a bin is the distance from that point to the
bin's box, zero inside, taken at its best over the reach window.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from data.store import Bin
from data.world import L_ELBOW, L_SHOULDER, L_WRIST, R_ELBOW, R_SHOULDER, R_WRIST
from engine.run import Run

HANDS = (("left", L_ELBOW, L_WRIST), ("right", R_ELBOW, R_WRIST))
FOREARM_EXTEND = 0.12  # metres past the wrist: the fingers reach beyond it
REACH_BEFORE_S, REACH_AFTER_S = 0.7, 1.1  # window around the change's start, where the hand is in
HAND_IN_AT_S = 0.3  # the hand is deepest in the bin about this long after the load starts to change
LATE_M_PER_S = 0.3  # a hand near the bin but away from that moment counts as this much farther per second
STILL_MPS = 0.3  # floor speed under which a person counts as standing


@dataclass
class HandNear:
    """A track's best hand for one bin over an event's window."""
    track: int  # index into run.people
    bin: str
    hand: str
    distance_m: float  # 0 inside the bin's box
    t_best: float
    path: list[list[float]] = field(default_factory=list)  # [[t, x, y, z]] wrist over the window


def box_distance(p: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Euclidean distance from points (..., 3) to an axis-aligned box; 0 inside."""
    d = np.maximum(np.maximum(lo - p, 0.0), p - hi)
    return np.linalg.norm(d, axis=-1)


def _window(run: Run, t0: float, t1: float) -> np.ndarray:
    return np.flatnonzero((run.t >= t0 - REACH_BEFORE_S) & (run.t <= t0 + REACH_AFTER_S))


def hands_near(run: Run, bins: list[Bin], t0: float, t1: float, max_m: float = 1.2) -> list[HandNear]:
    """Every track with a hand within max_m of one of the bins around the change's start, per bin."""
    ks = _window(run, t0, t1)
    if not len(ks):
        return []
    J = run.joints[ks].astype(float)  # (W, P, 17, 3)
    late = LATE_M_PER_S * np.maximum(np.abs(run.t[ks] - (t0 + HAND_IN_AT_S)) - 0.4, 0.0)
    out: list[HandNear] = []
    for b in bins:
        lo, hi = np.asarray(b.min, float), np.asarray(b.max, float)
        for p in range(J.shape[1]):
            best: tuple[float, str, int] | None = None
            for hand, e, w in HANDS:
                wr, el = J[:, p, w], J[:, p, e]
                fore = wr - el
                n = np.linalg.norm(fore, axis=-1, keepdims=True)
                tip = wr + fore / np.where(n > 1e-6, n, 1.0) * FOREARM_EXTEND
                d = np.fmin(box_distance(wr, lo, hi), box_distance(tip, lo, hi)) + late
                if not np.isfinite(d).any():
                    continue
                i = int(np.nanargmin(d))
                if best is None or d[i] < best[0]:
                    best = (float(d[i]), hand, i)
            if best is None or best[0] > max_m:
                continue
            d, hand, i = best
            w = L_WRIST if hand == "left" else R_WRIST
            path = [[round(float(run.t[k]), 3), *[round(float(v), 3) for v in J[n, p, w]]]
                    for n, k in enumerate(ks) if np.isfinite(J[n, p, w]).all()]
            out.append(HandNear(p, b.id, hand, d, float(run.t[ks[i]]), path))
    return out


UNSEEN_REACH_S = 0.3  # a shopper with no skeleton from this long before a change to this long after it ...
UNSEEN_SEEN = 0.5  # ... (a skeleton at fewer than this share of those steps) ...
UNSEEN_FLOOR_M = 0.8  # ... standing this near the bin (floor point to the bin's box, across the floor) ...
UNSEEN_AS_M = 0.1  # ... may have reached in: scored as a hand this far from the bin ...
UNSEEN_CLEAR_M = 0.15  # ... unless a hand seen at the reach was this near it


def reach_steps(run: Run, t0: float, t1: float) -> np.ndarray:
    """(T,) the run's steps from UNSEEN_REACH_S before a change (t0..t1) to UNSEEN_REACH_S after it: the reach."""
    return (run.t >= t0 - UNSEEN_REACH_S) & (run.t <= t1 + UNSEEN_REACH_S)


def seen_at_reach(run: Run, t0: float, t1: float) -> np.ndarray:
    """(P,) share of the reach's steps (`reach_steps`) at which each track has a skeleton (its hips); under
    UNSEEN_SEEN it was unseen at the reach. All zero if no step is there."""
    reach = reach_steps(run, t0, t1)
    if not reach.any():
        return np.zeros(run.joints.shape[1])
    return np.isfinite(run.joints[reach][..., 11:13, :]).all(-1).any(-1).mean(0)


def unseen_hands(run: Run, bins: list[Bin], t0: float, t1: float, near: list[HandNear]) -> list[HandNear]:
    """`near` with the hands of shoppers hidden at the reach but standing at the bin.

    A shopper reaching into a shelf behind others is often the one the cameras lose for exactly that
    second (seen in two poor views: no skeleton), while a neighbour's hand a hand's breadth from the bin
    is seen well and would take the item alone. Such a shopper's hand is scored as if UNSEEN_AS_M from the
    bin (its hand at the window's edges, if nearer), unless a hand seen at the reach was in the bin already
    (within UNSEEN_CLEAR_M): then nothing is missing."""
    if not reach_steps(run, t0, t1).any():
        return near
    ki = int(np.argmin(np.abs(run.t - 0.5 * (t0 + t1))))
    seen = seen_at_reach(run, t0, t1)
    out = list(near)
    clear = {h.bin for h in near if h.distance_m <= UNSEEN_CLEAR_M and seen[h.track] >= UNSEEN_SEEN}
    for j in np.flatnonzero(seen < UNSEEN_SEEN):
        if run.tracks[j].role == "associate":
            continue  # staff stand hidden at shelves to restock; their hands reach for no receipt
        at = run.floor[ki, j]
        if not np.isfinite(at).all():
            continue
        for b in bins:
            if b.id in clear:
                continue
            if float(box_distance(at, np.asarray(b.min, float)[:2], np.asarray(b.max, float)[:2])) > UNSEEN_FLOOR_M:
                continue  # (across the floor: the box's footprint)
            old = next((h for h in out if h.track == j and h.bin == b.id), None)
            if old is None:
                out.append(HandNear(int(j), b.id, "right", UNSEEN_AS_M, float(run.t[ki])))
            elif old.distance_m > UNSEEN_AS_M:
                out[out.index(old)] = replace(old, distance_m=UNSEEN_AS_M)
    return out


def hand_likelihood(distance_m: float, sigma_m: float = 0.14, tail: float = 0.12, tail_m: float = 0.35) -> float:
    """How well a hand's distance fits 'this hand was in the bin', given the wrist's error.

    A Gaussian core for a wrist seen well, and a heavier tail: a triangulated wrist is sometimes
    off by tens of centimetres (a missed or mislabelled arm), and the person is still the one
    reaching."""
    d = max(float(distance_m), 0.0)
    return float((1 - tail) * np.exp(-0.5 * (d / sigma_m) ** 2) + tail * np.exp(-d / tail_m))


@dataclass
class Meeting:
    """Two tracks' hands together, away from the shelves: a possible hand-over."""
    a: int
    b: int
    t: float
    distance_m: float
    point: tuple[float, float, float] = (float("nan"),) * 3  # where the hands met
    owners: tuple[str | None, str | None] = (None, None)  # the two hands' parties, filled in by the cart
    hands: tuple[str, str] = ("right", "right")  # the hand each held out (a's, b's)
    kind: str = "hands"  # what found it: "hands" met, a "pass" of hands, two people "facing" each other


def hand_meetings(run: Run, min_s: float = 0.3, max_m: float = 0.25) -> list[Meeting]:
    """Moments two tracks stand still, each holding a hand out toward the other, and the hands meet.

    People passing close by have their hands near each other too (a carried item is held in front),
    but they are walking; a hand-over needs both to stop, with both wrists carried toward the
    partner, at waist height or above, near the midpoint between them, and each hand travels: in to
    the meeting and away after it (`_moves`), as `hand_passes` asks too. A hand held still while
    the other comes up to it, or two hands resting together, pass nothing. People standing closer than
    that (hips under 0.5 m apart) are read by their hands' motion instead: `hand_passes`.
    """
    T, P = run.joints.shape[:2]
    out: list[Meeting] = []
    J = run.joints.astype(float)
    W = J[:, :, [L_WRIST, R_WRIST]]  # (T, P, 2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # joints of people not in the store are NaN
        hips = np.nanmean(J[:, :, 11:13, :2], axis=2) if P else np.zeros((T, 0, 2))  # (T, P, 2)
    floor = run.floor.astype(float)
    speed = _floor_speed(run)
    step = float(np.median(np.diff(run.t))) if len(run.t) > 1 else 0.2
    need = max(1, int(round(min_s / max(step, 1e-3))))
    win = max(1, int(round(PASS_WINDOW_S / max(step, 1e-3))))
    for a in range(P):
        for b in range(a + 1, P):
            both = np.isfinite(floor[:, a]).all(1) & np.isfinite(floor[:, b]).all(1)
            if not both.any():
                continue
            gap_v = hips[:, b] - hips[:, a]
            gap = np.linalg.norm(gap_v, axis=1)
            u = gap_v / np.where(gap > 1e-6, gap, 1.0)[:, None]
            mid = (hips[:, a] + hips[:, b]) / 2
            # each person's most outstretched wrist toward the other
            out_a = np.einsum("thk,tk->th", W[:, a, :, :2] - hips[:, a, None], u)  # (T, 2)
            out_b = np.einsum("thk,tk->th", W[:, b, :, :2] - hips[:, b, None], -u)
            with np.errstate(invalid="ignore"):
                ia = np.argmax(np.where(np.isfinite(out_a), out_a, -np.inf), axis=1)
                ib = np.argmax(np.where(np.isfinite(out_b), out_b, -np.inf), axis=1)
                rows = np.arange(T)
                wa, wb = W[rows, a, ia], W[rows, b, ib]
                d = np.linalg.norm(wa - wb, axis=1)
                at_mid = np.linalg.norm((wa[:, :2] + wb[:, :2]) / 2 - mid, axis=1)
                close = (both & (d < max_m) & (gap > 0.5) & (gap < 1.4) & (out_a[rows, ia] > 0.25)
                         & (out_b[rows, ib] > 0.25) & (at_mid < 0.25) & (np.fmin(wa[:, 2], wb[:, 2]) > 0.8)
                         & (speed[:, a] < STILL_MPS) & (speed[:, b] < STILL_MPS))
            close &= np.isfinite(d)
            for s, e in _runs(close):
                if e - s >= need:
                    k = s + int(np.argmin(d[s:e]))
                    if not (_moves(W[:, a, ia[k]], s, e - 1, win) and _moves(W[:, b, ib[k]], s, e - 1, win)):
                        continue  # one hand held still where the other came to it: not a hand-over
                    p = (wa[k] + wb[k]) / 2
                    out.append(Meeting(a, b, float(run.t[k]), float(d[k]), (float(p[0]), float(p[1]), float(p[2])),
                                       hands=(HANDS[ia[k]][0], HANDS[ib[k]][0])))
    # one hand-over lasts about EXCHANGE_S: hands that part and meet again within it (a wrist lost for a frame,
    # or the two hands shifting) are the same hand-over, not a second one
    out = _one_per_moment(out, EXCHANGE_S)
    # people standing closer than a held-out hand's reach: their hands meet where idle ones are; the motion tells
    out += [m for m in hand_passes(run, min_s)
            if not any({m.a, m.b} == {o.a, o.b} and abs(m.t - o.t) < PASS_WINDOW_S + min_s for o in out)]
    # the pose network often misses an arm held out across to someone (few hand-overs in its training): two people
    # stopped face to face at arm's length, reaching toward each other, are a meeting even if their hands never met
    out += [m for m in facing_meetings(run)
            if not any({m.a, m.b} == {o.a, o.b} and abs(m.t - o.t) < FACING_MIN_S + EXCHANGE_S for o in out)]
    return sorted(out, key=lambda m: m.t)


FACING_GAP_M = (0.7, 1.2)  # hips apart: an arm's length each way (a hand-over's); nearer is hand_passes' range
FACING_MIN_S = 1.0  # stopped face to face at least this long
FACING_SQUARE = 0.25  # |cos| between the shoulder line and the line between them: under it, square to each other
FACING_REACH_M = 0.15  # at some moment each has a wrist this far out toward the other (floor plane, from the hips)
FACING_TRAVEL_M = 0.1  # ... and each one's reach toward the other changes this much around the stop
STOP_BREAK_S = 0.15  # a stop broken for no longer than this (one step at 7.5 Hz, at 5 Hz) is one stop


def facing_meetings(run: Run) -> list[Meeting]:
    """Two people stopped face to face, an arm's length apart, each at some moment reaching toward the other.

    Hand-overs the wrists show poorly: in the cart recordings the engine's skeleton had the held-out arm of
    giver or receiver (often both) folded or missing at most true hand-overs, so their hands never met. What
    it keeps is the stance: both stop, square to each other (shoulder lines across the line between them),
    hips `FACING_GAP_M` apart, for `FACING_MIN_S` (in a longer stop, its squarest stretch: `_squarest`), and
    each sends a wrist `FACING_REACH_M` toward the other, a motion (`FACING_TRAVEL_M`), not an item carried in
    front all along. People queueing or walking side by side are not square to each other; people talking rarely
    reach. The meeting is placed between the moments each reaches furthest; its `distance_m` is their wrists'
    distance then. Its prior (receipts.FACING_PRIOR) is lower.
    """
    T, P = run.joints.shape[:2]
    out: list[Meeting] = []
    if T < 3 or P < 2:
        return out
    J = run.joints.astype(float)
    fl = run.floor.astype(float)
    step = float(np.median(np.diff(run.t)))
    need = max(2, int(round(FACING_MIN_S / max(step, 1e-3))))
    speed = _floor_speed(run)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # joints of people not in the store are NaN
        hips = np.nanmean(J[:, :, 11:13, :2], axis=2)  # (T, P, 2)
        sh = J[:, :, L_SHOULDER, :2] - J[:, :, R_SHOULDER, :2]
        sh = sh / np.linalg.norm(sh, axis=2, keepdims=True)
        for a in range(P):
            for b in range(a + 1, P):
                gv = fl[:, b] - fl[:, a]
                gap = np.linalg.norm(gv, axis=1)
                ok = _bridged((gap > FACING_GAP_M[0]) & (gap < FACING_GAP_M[1]) & (speed[:, a] < STILL_MPS)
                              & (speed[:, b] < STILL_MPS), max(1, int(round(STOP_BREAK_S / max(step, 1e-3)))))
                if not ok.any():
                    continue
                u = gv / np.where(gap > 1e-6, gap, 1.0)[:, None]
                square = np.fmax(np.abs(np.einsum("tk,tk->t", sh[:, a], u)), np.abs(np.einsum("tk,tk->t", sh[:, b], u)))
                out_a = np.einsum("thk,tk->th", J[:, a, [L_WRIST, R_WRIST], :2] - hips[:, a, None], u)  # (T, 2)
                out_b = np.einsum("thk,tk->th", J[:, b, [L_WRIST, R_WRIST], :2] - hips[:, b, None], -u)
                seen_a = np.where(np.isfinite(out_a), out_a, -np.inf)  # an unseen wrist reaches nowhere
                seen_b = np.where(np.isfinite(out_b), out_b, -np.inf)
                ia, ib = seen_a.argmax(axis=1), seen_b.argmax(axis=1)  # each step's further-reaching hand
                best_a, best_b = seen_a.max(axis=1), seen_b.max(axis=1)
                for s, e in _runs(ok):
                    if e - s < need:
                        continue
                    part = _squarest(square, s, e, need)
                    if part is None:
                        continue
                    s, e = part
                    # each one's furthest reach in the stop, not necessarily at the same step: a held-out arm
                    # is often seen only every other step
                    ka, kb = s + int(np.argmax(best_a[s:e])), s + int(np.argmax(best_b[s:e]))
                    if not min(best_a[ka], best_b[kb]) >= FACING_REACH_M:
                        continue
                    # the reach is a motion: each reaching wrist's reach toward the other varies by FACING_TRAVEL_M
                    # around the stop (a hand held out all along, carrying something in front, is a posture)
                    lo, hi = max(s - need, 0), min(e + need, T)
                    travel = [np.nanmax(o[lo:hi]) - np.nanmin(o[lo:hi]) for o in (out_a[:, ia[ka]], out_b[:, ib[kb]])]
                    if not min(travel) >= FACING_TRAVEL_M:
                        continue
                    wa, wb = J[ka, a, (L_WRIST, R_WRIST)[ia[ka]]], J[kb, b, (L_WRIST, R_WRIST)[ib[kb]]]
                    p = (wa + wb) / 2
                    out.append(Meeting(a, b, float(run.t[(ka + kb) // 2]), float(np.linalg.norm(wa - wb)),
                                       (float(p[0]), float(p[1]), float(p[2])),
                                       hands=(HANDS[ia[ka]][0], HANDS[ib[kb]][0]), kind="facing"))
    return out


def _squarest(square: np.ndarray, s: int, e: int, need: int) -> tuple[int, int] | None:
    """The part of a stop (steps s..e) in which the two stand square to each other: the whole stop when its
    median is square, else its squarest `need` steps (people often stop side by side, then turn to face each
    other for the hand-over); None when no such stretch is square."""
    if np.nanmedian(square[s:e]) < FACING_SQUARE:
        return s, e
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window: no shoulders seen
        med = np.array([np.nanmedian(square[k:k + need]) for k in range(s, e - need + 1)])
    if not np.isfinite(med).any() or not np.nanmin(med) < FACING_SQUARE:
        return None
    k = s + int(np.nanargmin(med))
    return k, k + need


EXCHANGE_S = 1.5  # hands held out to each other, from first reaching out to drawn back
PASS_MEET_M = 0.08  # two wrists this close, having come together and then parted: hands touching
PASS_TRAVEL_M = 0.2  # ... from at least this much farther apart within PASS_WINDOW_S before and after
PASS_MOVE_M = 0.08  # each wrist itself moves at least this much on the way in and on the way out
PASS_WINDOW_S = 1.0
PASS_REACH = 0.75  # shoulder-to-wrist over upper arm plus forearm: an arm held out, not bent to carry


def hand_passes(run: Run, min_s: float = 0.3) -> list[Meeting]:
    """Moments two still people each bring one hand to the other's, hold them together and part them.

    Neighbours standing close have their idle hands (carrying, hanging) near each other too, and
    as close as a hand-over's when they stand close enough: what tells a hand-over is the motion.
    Both wrists travel in to meet (the two hands were PASS_TRAVEL_M farther apart a moment before,
    and each wrist itself moved), stay together at least min_s with the arms held out, above the
    waist, and travel apart again. This reads hand-overs whatever the people's distance.
    """
    T, P = run.joints.shape[:2]
    out: list[Meeting] = []
    if T < 3 or P < 2:
        return out
    J = run.joints.astype(float)
    step = float(np.median(np.diff(run.t)))
    need = max(2, int(np.ceil(min_s / max(step, 1e-3) - 1e-6)))  # held together: seen so at least twice
    win = max(1, int(round(PASS_WINDOW_S / max(step, 1e-3))))
    floor = run.floor.astype(float)
    speed = _floor_speed(run)
    arms = [(L_SHOULDER, L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW, R_WRIST)]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # joints of people not in the store are NaN
        reach = np.stack([np.linalg.norm(J[:, :, w] - J[:, :, s], axis=-1)
                          / (np.linalg.norm(J[:, :, e] - J[:, :, s], axis=-1)
                             + np.linalg.norm(J[:, :, w] - J[:, :, e], axis=-1)) for s, e, w in arms], axis=2)  # (T, P, 2)
        above = J[:, :, [L_WRIST, R_WRIST], 2] > np.nanmean(J[:, :, 11:13, 2], axis=2)[:, :, None]  # over the waist
        held_out = (reach > PASS_REACH) & above & (speed < STILL_MPS)[:, :, None]
    for a in range(P):
        for b in range(a + 1, P):
            if not (np.isfinite(floor[:, a]).all(1) & np.isfinite(floor[:, b]).all(1)).any():
                continue
            for i, (_, _, wi) in enumerate(arms):
                for j, (_, _, wj) in enumerate(arms):
                    wa, wb = J[:, a, wi], J[:, b, wj]
                    d = np.linalg.norm(wa - wb, axis=1)
                    with np.errstate(invalid="ignore"):
                        close = (d < PASS_MEET_M) & held_out[:, a, i] & held_out[:, b, j]
                    for s, e in _runs(close):
                        if e - s < need or s - win < 0 or e + win > T:
                            continue
                        k = s + int(np.argmin(d[s:e]))
                        if not (_travels(d, wa, wb, range(s - win, s), s, d[k])
                                and _travels(d, wa, wb, range(e, e + win), e - 1, d[k])):
                            continue
                        p = (wa[k] + wb[k]) / 2
                        out.append(Meeting(a, b, float(run.t[k]), float(d[k]), (float(p[0]), float(p[1]), float(p[2])),
                                           hands=(HANDS[i][0], HANDS[j][0]), kind="pass"))
    return _one_per_moment(out)


SPEED_HALF_S = 0.2  # a walking speed is the distance covered from this long before to this long after


def _floor_speed(run: Run) -> np.ndarray:
    """(T, P) each track's walking speed on the floor (m/s; zeros with a single step).

    Measured over a fixed time (SPEED_HALF_S each side, at least one step), not from one step to the next: a
    standing person's floor point jitters by a few centimetres, which over one 0.13 s step at 7.5 Hz reads as
    0.3 m/s, as fast as the 'still' a hand-over asks for (over 0.2 s at 5 Hz it read as 0.2 m/s)."""
    T, P = run.floor.shape[:2]
    if T < 2:
        return np.zeros((T, P))
    step = float(np.median(np.diff(run.t)))
    w = max(1, int(round(SPEED_HALF_S / max(step, 1e-3))))
    i = np.arange(T)
    lo, hi = np.maximum(i - w, 0), np.minimum(i + w, T - 1)
    f = run.floor.astype(float)
    dt = (run.t[hi] - run.t[lo]).astype(float)
    return np.linalg.norm(f[hi] - f[lo], axis=2) / np.where(dt > 0, dt, np.inf)[:, None]


def _bridged(mask: np.ndarray, k: int) -> np.ndarray:
    """The mask with each run of at most k False steps between two True ones set True: one step of a standing
    person's floor point jittering over the walking speed does not end a stop."""
    out = mask.copy()
    runs = _runs(mask)
    for (_, e0), (s1, _) in zip(runs, runs[1:]):
        if s1 - e0 <= k:
            out[e0:s1] = True
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-D mask, end exclusive."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    return list(zip(edges[::2], edges[1::2]))


def _travels(d: np.ndarray, wa: np.ndarray, wb: np.ndarray, ks: range, k0: int, d_min: float) -> bool:
    """Within the frames ks the two hands were PASS_TRAVEL_M farther apart than at their closest, and each
    wrist was then at least PASS_MOVE_M from where it is at frame k0 (both moved, not one to a still hand)."""
    for k in ks:
        if (np.isfinite(d[k]) and d[k] >= d_min + PASS_TRAVEL_M and np.linalg.norm(wa[k] - wa[k0]) >= PASS_MOVE_M
                and np.linalg.norm(wb[k] - wb[k0]) >= PASS_MOVE_M):
            return True
    return False


def _moves(w: np.ndarray, s: int, e: int, win: int) -> bool:
    """A wrist (T, 3) travelled in and away: at least PASS_MOVE_M from where it is at frame s (the hands' first
    frame together) within the win frames before s, and from where it is at frame e (their last) within the
    win after e. Unknown (never seen on a side) counts as moving: the pose, not the person, is missing then."""
    for ks, k0 in ((range(max(s - win, 0), s), s), (range(e + 1, min(e + win + 1, len(w))), e)):
        step = np.linalg.norm(w[list(ks)] - w[k0], axis=1) if len(ks) else np.array([])
        step = step[np.isfinite(step)]
        if len(step) and step.max() < PASS_MOVE_M:
            return False
    return True


def _one_per_moment(ms: list[Meeting], apart_s: float = 1.0) -> list[Meeting]:
    """One meeting per pair of tracks and moment: the closest of those within apart_s."""
    keep: list[Meeting] = []
    for m in sorted(ms, key=lambda m: m.distance_m):
        if not any({m.a, m.b} == {k.a, k.b} and abs(m.t - k.t) < apart_s for k in keep):
            keep.append(m)
    return sorted(keep, key=lambda m: m.t)
