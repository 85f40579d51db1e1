"""What really happens in the synthetic store, over time: the simulator's ground truth.

`data.choreography` turns a scenario into a World; the renderer, the load
cells and the truth writer all read the same World, so pixels, grams and
truth files cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# COCO-17 joint indices (recording.md's order)
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 11, 12, 13, 14, 15, 16
# the arms' left/right twins (shoulders, elbows, wrists): the sides a view from above often cannot tell
ARM_PAIRS = ((L_SHOULDER, R_SHOULDER), (L_ELBOW, R_ELBOW), (L_WRIST, R_WRIST))
JOINT_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
               "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
               "right_knee", "left_ankle", "right_ankle")
# limbs of the COCO skeleton (pairs of joint indices), also used to draw stick figures
LIMBS = ((L_ANKLE, L_KNEE), (L_KNEE, L_HIP), (R_ANKLE, R_KNEE), (R_KNEE, R_HIP), (L_HIP, R_HIP),
         (L_SHOULDER, L_HIP), (R_SHOULDER, R_HIP), (L_SHOULDER, R_SHOULDER), (L_SHOULDER, L_ELBOW),
         (R_SHOULDER, R_ELBOW), (L_ELBOW, L_WRIST), (R_ELBOW, R_WRIST), (NOSE, L_EYE), (NOSE, R_EYE),
         (L_EYE, L_EAR), (R_EYE, R_EAR))


@dataclass(frozen=True)
class Appearance:
    """How a person looks: RGB colours and body height (metres)."""
    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shoes: tuple[int, int, int]
    height_m: float


@dataclass
class PersonInfo:
    id: str
    role: str  # shopper | associate
    account: str
    appearance: Appearance
    entered_at: float  # time the person steps into the store (the party's scan time)
    exited_at: float  # time the person reaches an exit zone (NaN poses from then on)


@dataclass(frozen=True)
class HeldItem:
    """One unit carried in a hand over [t0, t1) (t1 = inf: carried out of the store)."""
    person: str
    sku: str
    hand: str  # "left" | "right"
    t0: float
    t1: float
    unit: int  # the unit's id (its own weight is World.unit_weight[unit])


@dataclass(frozen=True)
class LoadChange:
    """A unit leaving (sign -1) or entering (sign +1) a bin; the load ramps from t over `ramp_s`."""
    t: float
    bin: str
    sku: str
    unit: int
    sign: int
    ramp_s: float = 0.35


@dataclass(frozen=True)
class HandInBin:
    """A hand inside a bin's opening over [t_in, t_out): shakes the load cell."""
    person: str
    bin: str
    t_in: float
    t_out: float


@dataclass
class World:
    times: np.ndarray  # (T,) sample times
    people: list[PersonInfo]
    joints: np.ndarray  # (T, P, 17, 3) float32 world metres, NaN when not in the store
    held: list[HeldItem]
    load_changes: list[LoadChange]
    hands_in_bins: list[HandInBin]
    initial_units: dict[str, list[int]]  # bin id -> unit ids on it at t = 0
    unit_weight: dict[int, float]  # unit id -> grams
    unit_sku: dict[int, str]
    events: list[dict]  # truth/events.jsonl lines
    gate_scans: list[dict]  # gates/events.jsonl lines
    visits: list[dict]  # truth/receipts.json visits
    duration_s: float
    _stock_cache: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def joints_at(self, t: float) -> np.ndarray:
        """(P, 17, 3) joints at time t, linearly interpolated between samples."""
        times = self.times
        if t <= times[0]:
            return self.joints[0].astype(np.float64)
        if t >= times[-1]:
            return self.joints[-1].astype(np.float64)
        i = int(np.searchsorted(times, t)) - 1
        a = (t - times[i]) / (times[i + 1] - times[i])
        j0, j1 = self.joints[i].astype(np.float64), self.joints[i + 1].astype(np.float64)
        out = (1 - a) * j0 + a * j1
        # a person entering or leaving between samples: take the side that exists
        gone0, gone1 = np.isnan(j0[:, 0, 0]), np.isnan(j1[:, 0, 0])
        out[gone0 & ~gone1] = j1[gone0 & ~gone1] if a >= 0.5 else np.nan
        out[gone1 & ~gone0] = j0[gone1 & ~gone0] if a < 0.5 else np.nan
        return out

    def held_at(self, t: float) -> list[HeldItem]:
        return [h for h in self.held if h.t0 <= t < h.t1]

    def stock_at(self, bin_id: str, t: float) -> int:
        """Units in a bin at time t (a unit counts as moved once its load change begins)."""
        if bin_id not in self._stock_cache:
            ch = sorted((c.t, c.sign) for c in self.load_changes if c.bin == bin_id)
            ts = np.array([c[0] for c in ch])
            cum = np.cumsum([c[1] for c in ch]) if ch else np.array([])
            self._stock_cache[bin_id] = (ts, cum)
        ts, cum = self._stock_cache[bin_id]
        k = int(np.searchsorted(ts, t, side="right"))
        return len(self.initial_units.get(bin_id, [])) + (int(cum[k - 1]) if k else 0)

    def person_index(self, pid: str) -> int:
        return next(i for i, p in enumerate(self.people) if p.id == pid)
