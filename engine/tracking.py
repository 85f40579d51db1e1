"""Tracking, "the linker" (design.md stage 4): 3D poses over time -> people's tracks, tied to gate scans.

`Linker(store, gate_events, fps)` is fed each time step's `Pose3D`s (from
engine.multiview) with `update(t, poses, appearance)`; `finish()` returns
the `Track`s.

- **Motion.** A constant-velocity Kalman filter (cv2.KalmanFilter) per track
  on the floor position; detections are assigned to tracks with
  scipy.optimize.linear_sum_assignment on floor distance (plus a small
  height / appearance term as a tie-break), gated at `gate_m`, wider for a
  track that has been coasting; a confirmed track left without a detection
  gets a second chance at one within `loose_gate_m` of its last sighting
  that no other track is nearer (a sharp turn the motion model overshot).
- **Birth.** An unassigned, confident detection starts a tentative track;
  `confirm_hits` hits make it a track. Normally people are born in an entry
  zone just after a scan, but a confident person anywhere else (already
  inside when the recording starts, a staff door, a track lost and found)
  still gets a track, with `born_in_entry=False` and a flag saying why
  (`present-at-start`, `born-outside-entry`); a track born outside the
  entry is first offered to recently lost tracks (same look, reachable in
  the time) and continues that track when one fits (`relinked`); a track
  coasting nearby may likewise take over a new one (`reacquired`). Mid-floor,
  a detection within `dup_m` of a track seen the same step is taken for a
  second estimate of that person, unless it stays put there, apart, for
  `dup_persist_s`: then it is somebody standing beside them (whose own track
  was lost in their tangle) and is born, and relinked like any other. A
  track held for a duplicate at the entry (below) is never relinked.
- **Stitching.** Once the recording is in and identities are settled, a
  track lost mid-floor continues in a track born mid-floor with no scan
  within `stitch_s` after it, at a walkable distance, when the two looks
  (read from the bodies: the lost one's last, the new one's first
  `stitch_look_s`) are within `stitch_max_cost` and no other pairing of
  lost and new tracks comes within the look margin of it (`stitched`).
  People do not appear mid-floor, so a lone fit is strong evidence even
  when the look changed (another camera's light, a look read in a crowd).
- **Accounts.** A track born in an entry zone from `scan_pre_s` before to
  `scan_window_s` after a scan of that gate is linked to the scan whose time
  is nearest its birth among those with places left (`party_size` tracks
  per scan), a scan after the birth counting `scan_early_weight` times as
  far (people pass the gate after they scan). While a scan has a place
  left, a detection in its entry zone is that newcomer: no track unseen for
  `entry_coast_s` elsewhere may take it. The scan's `role` gives the track's
  role. A close call between two scans is flagged `account-ambiguous`; a
  birth in the entry with no scan is flagged `no-scan`.
- **End.** A track missed for `exit_coast_s` with its last position in an
  exit zone ends there (`ended_in_exit`); a track missed for `coast_s`
  (`tangled_coast_s` while tangled) ends as `lost`; the rest end at
  `finish()`. A coasting track's velocity decays by `coast_damp` per second
  (`tangled_coast_damp` while tangled, for one who stood before the loss:
  an experiment, off by default; docs/benchmarks.md, session 14). Gaps of up
  to `fill_gap_s` between two sightings of a track (`fill_still_s` where the
  two are within `fill_still_m`: one who stood hidden among neighbours)
  are filled with floor positions on the line between them (joints unknown,
  confidence 0; listed in `gaps`): a person hidden for a second is there.
- **Tangles.** Two tracks closer than `tangle_m` are tangled until they are
  `release_m` apart: the interval is stored on both (`tangled`), neither
  track is dropped, and their look models are frozen. Tracks tangled
  together form a group; a member that has parted and meets someone new
  settles its old group first, so groups do not chain through a crowd. Once
  the group has parted and each member has been seen apart for `settle_s`,
  identities are decided by comparing each
  identity's look before the tangle with each body's look after it: caller
  appearance vectors (unit length; they decide when given), and stature
  from the skeleton's bone lengths (a veto on clearly different bodies, or
  the only cue without appearance, then with a threshold that clears its
  noise). The outcomes weighed are disjoint exchanges between tracks that
  were tangled with each other (an identity never jumps to someone its body
  never came near); the cheapest is applied only when it beats keeping the
  identities by `reid_margin` (or that noise threshold), each exchange from
  its own pair's closest approach. A member that
  parts while the others stay tangled is released early when its look
  clearly matches its own. Every decision is recorded on the tracks
  (`reid`: costs, margins, threshold, reason); close calls are flagged
  `reid-ambiguous` (`-party` when everyone involved shares one account,
  `-exit` for tracks that walked out still tangled). Nothing is ever
  swapped silently.
- **Deferred re-identification** (`deferred_reid`, the default; the engine
  runs offline on whole recordings). The decisions above are then not taken
  tangle by tangle: every pair tangle is a place where two bodies may have
  exchanged identities, and one joint decision over all of them is taken
  once the recording is in. A hypothesis's cost sums, over every stretch a
  body walks between two of its tangles, how far that stretch's look lies
  from the looks its identity showed in the stretches before (weighted by
  how much of it was seen), plus `swap_prior` per exchange; a beam of
  `reid_beam` hypotheses goes through the tangles in time order. So a tangle
  whose bodies walk straight into the next crowd, showing no look in
  between, is decided by what they look like after that. Each tangle's
  decision is recorded on both tracks with its margin (the cost of the best
  hypothesis deciding it otherwise, minus the chosen one's); below
  `reid_margin + swap_prior` it is flagged ambiguous as above. Looks for this
  come from views where nobody nearer the camera covers the person
  (`clean_appearance`), when the caller gives them.
- **Performance.** About a millisecond per step for ten people.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field, fields, replace
from typing import Sequence

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from data.store import Gate, Store
from engine.types import Pose3D

# rigid bones whose lengths add up to most of a person's stature, whatever the posture:
# shin, thigh, torso side (hip to shoulder), each as the mean of left and right
STATURE_BONES = (((13, 15), (14, 16)), ((11, 13), (12, 14)), ((5, 11), (6, 12)))
STATURE_K = 1.29  # stature / (shin + thigh + torso side), adult proportions


REFERENCE_HZ = 5.0  # the skeleton rate LinkerConfig's sample counts were set at


@dataclass
class LinkerConfig:
    gate_m: float = 0.5  # assignment gate on floor distance (2.5 m/s at 5 Hz)
    coast_gate_mps: float = 0.8  # the gate widens this much per second of coasting ...
    max_gate_m: float = 1.8  # ... up to this
    meas_sd_m: float = 0.06  # floor position noise (feet sway)
    accel_sd: float = 1.0  # m/s^2, process noise of the constant-velocity model (walking people)
    coast_damp: float = 0.6  # velocity kept per second of coasting
    tangled_coast_damp: float | None = None  # ... while tangled, for one who stood (None: coast_damp; see coast())
    stood_s: float = 0.0  # stood: every sighting over the last stood_s before the loss (0: anyone) ...
    stood_m: float = 0.4  # ... within this of the last one
    held_gate_m: float = 0.0  # the gate of a track so held (0: as any other's)
    height_weight: float = 1.0  # assignment cost per metre of height difference (tie-break)
    app_weight: float = 0.3  # assignment cost per unit of appearance distance (tie-break)
    min_det_conf: float = 0.25  # mean joint confidence a detection needs to start a track
    confirm_hits: int = 3
    tentative_miss_s: float = 0.35  # a tentative track missed this long is dropped
    birth_suppress_m: float = 0.3  # no birth this close to a live track ...
    dup_m: float = 0.6  # ... nor, outside the entry zones, this close to a track seen this step ...
    dup_persist_s: float = 1.0  # ... unless seen there, apart from that track, this long: two people side by side
    dup_still_m: float = 0.3  # (the same place: a detection this near the one the step before)
    coast_s: float = 2.5
    tangled_coast_s: float = 6.0
    exit_coast_s: float = 0.4
    zone_margin_m: float = 0.3
    scan_pre_s: float = 2.0
    scan_window_s: float = 6.0
    scan_ambiguous_s: float = 0.25  # two open scans this close (relative to the birth): flag the account
    scan_early_weight: float = 3.0  # a birth before a scan counts this many times its time to it: people pass after
    entry_coast_s: float = 0.5  # a track unseen this long cannot take a detection in an entry zone with a scan open
    start_grace_s: float = 1.0  # born this soon after the first update: present at the start
    tangle_m: float = 0.6
    release_m: float = 0.8
    settle_s: float = 0.5
    settle_on_new_tangle: bool = True  # a parted member's new tangle settles its old group first
    reid_margin: float = 0.15
    deferred_reid: bool = True  # decide identities after the whole recording, jointly over every tangle (offline)
    reid_beam: int = 64  # hypotheses kept by that joint decision
    swap_prior: float = 0.3  # cost of an exchange in it: bodies mostly keep their identities through a tangle
    seg_cap: int = 10  # samples of a stretch between tangles that count in it (5 Hz: two seconds) ...
    seg_unit: int = 5  # ... per this many samples one unit of look distance
    height_scale_m: float = 0.1  # height difference that counts as much as a unit of appearance distance
    app_alpha: float = 0.1  # EMA rate of the look model
    relink_s: float = 10.0  # a lost track may be found again this long after
    exit_relink_s: float = 2.0  # a track "ended in the exit" may be found again this soon (it did not leave)
    reacquire_miss_s: float = 0.2  # a track missed this long may take over a new track born near it
    loose_gate_m: float = 0.6  # second-chance gate around a confirmed track's last sighting (0: off)
    maha_gate: float = 13.8  # chi-square (2 dof, 99.9 %) gate on the Kalman innovation ...
    near_m: float = 0.3  # ... except within this distance, always allowed
    huber_sigma: float = 3.0  # innovations beyond this many sigmas update the filter less
    relink_speed: float = 1.5
    relink_max_cost: float = 0.6
    fill_gap_s: float = 2.0  # a track's gaps up to this long get floor positions (straight line), joints unknown
    fill_speed_mps: float = 1.5  # ... when walking that line needs no more than this speed
    fill_still_s: float = 5.0  # ... and up to this long when both ends are within fill_still_m: one who stood there
    fill_still_m: float = 0.3
    stub_s: float = 3.0  # a track born at the entry and lost within this long, beside a mate, held a duplicate's place
    stitch_s: float = 10.0  # offline, a track lost mid-floor continues in one born mid-floor this soon after (0: off)
    stitch_max_cost: float = 1.2  # ... when their looks (the lost one's last, the new one's first) are this close
    stitch_look_s: float = 5.0  # ... each look read over this long of its own body
    # ... also when the new one was born up to this long before the lost one's last sample: a track that lost its
    # body in a jam often took a neighbour's detection for its last steps, while its own body, seen alone, started
    # a new track (those last samples were the neighbour's and are dropped)
    stitch_overlap_s: float = 0.5

    def with_values(self, values: dict[str, float]) -> "LinkerConfig":
        """This config with some numbers changed (a benchmark's `--linker NAME=VALUE`); an unknown name is refused."""
        known = {f.name: f for f in fields(self)}
        bad = sorted(set(values) - set(known))
        if bad:
            raise ValueError(f"LinkerConfig has no setting {', '.join(bad)} (settings: {', '.join(known)})")
        # each as the type its default has (a count stays an int); an optional number (None by default) is a float
        return replace(self, **{k: (float if getattr(self, k) is None else type(getattr(self, k)))(v)
                                for k, v in values.items()})

    def at_rate(self, hz: float) -> "LinkerConfig":
        """This config for skeletons at `hz`: the counts above are samples at REFERENCE_HZ, so they are scaled to
        span the same time (hits to confirm, samples of a stretch and their unit, the look model's EMA rate)."""
        k = float(hz) / REFERENCE_HZ
        return replace(self, confirm_hits=max(1, round(self.confirm_hits * k)), seg_cap=max(1, round(self.seg_cap * k)),
                       seg_unit=max(1, round(self.seg_unit * k)), app_alpha=min(1.0, self.app_alpha / k))


@dataclass
class ReidDecision:
    """How identities were settled after a tangle."""
    t: float  # when decided
    tracks: tuple[str, ...]  # the tangled tracks (ids as they were before the decision)
    t_swap: float  # from when the exchange applies (the closest approach)
    mapping: dict[str, str]  # track id -> id of the track whose history it continues with after t_swap
    swapped: bool
    cost_keep: float  # look distance (before vs after) when everyone keeps their identity
    cost_chosen: float  # look distance of the chosen assignment
    margin: float  # next best assignment's cost minus the chosen one's (< 0: a better one was not trusted)
    ambiguous: bool  # margin below `threshold`, or no look to compare
    reason: str = ""
    margins: dict[str, float] = field(default_factory=dict)  # per track: margin over assignments that move it
    threshold: float = 0.0  # the margin a swap had to clear (reid_margin, or more when statures are noisy)


@dataclass
class Track:
    id: str
    times: np.ndarray  # (N,)
    joints: np.ndarray  # (N, 17, 3)
    confidence: np.ndarray  # (N, 17)
    floor: np.ndarray  # (N, 2) filtered floor position
    account: str | None = None
    party: int | None = None  # index of the scan in gate_events
    role: str = "unknown"  # shopper | associate | unknown
    born_in_entry: bool = False
    ended_in_exit: bool = False
    tangled: list[tuple[float, float, str]] = field(default_factory=list)
    reid: list[ReidDecision] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    birth_gate: str | None = None
    exit_gate: str | None = None
    height_m: float = float("nan")  # stature estimated from the skeleton's bone lengths
    gaps: list[tuple[float, float]] = field(default_factory=list)  # times unseen between two sightings (relinked, or filled)

    @property
    def t_start(self) -> float:
        return float(self.times[0]) if len(self.times) else float("nan")

    @property
    def t_end(self) -> float:
        return float(self.times[-1]) if len(self.times) else float("nan")

    def at(self, t: float, tol: float = 1e-6) -> int | None:
        """Index of the sample at time t (None if the track has none there)."""
        i = int(np.searchsorted(self.times, t - tol))
        return i if i < len(self.times) and abs(self.times[i] - t) <= tol else None

    def is_tangled(self, t: float) -> bool:
        return any(a <= t <= b for a, b, _ in self.tangled)


# -- internals --------------------------------------------------------------------------------

@dataclass
class _Identity:
    """What moves with a person's identity when a re-identification exchanges histories."""
    id: str | None = None
    account: str | None = None
    party: int | None = None
    role: str = "unknown"
    born_in_entry: bool = False
    birth_gate: str | None = None
    t_birth: float = 0.0
    flags: list[str] = field(default_factory=list)
    tangled: list[tuple[float, float, str]] = field(default_factory=list)
    reid: list[ReidDecision] = field(default_factory=list)
    gaps: list[tuple[float, float]] = field(default_factory=list)
    app: np.ndarray | None = None  # look model (unit vector EMA), from untangled frames
    heights: list[float] = field(default_factory=list)  # statures from untangled frames
    app_any: np.ndarray | None = None  # the same from every frame: the fallback for a track born tangled
    heights_any: list[float] = field(default_factory=list)

    def look(self) -> "_Look":
        """How this identity looks: from untangled frames, else from any."""
        app = self.app if self.app is not None else self.app_any
        return _Look.of(None if app is None else app.copy(), self.heights or self.heights_any)


class _Body:
    """One tracked body: Kalman filter and samples; carries an identity."""

    def __init__(self, key: int, t: float, pose: Pose3D, cfg: LinkerConfig) -> None:
        self.key = key
        self.ident = _Identity(t_birth=t)
        self.cfg = cfg
        kf = cv2.KalmanFilter(4, 2, 0, cv2.CV_64F)
        kf.measurementMatrix = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float64)
        kf.measurementNoiseCov = np.eye(2) * cfg.meas_sd_m ** 2
        xy = floor_point(pose)
        kf.statePost = np.array([[xy[0]], [xy[1]], [0.0], [0.0]])
        kf.errorCovPost = np.diag([cfg.meas_sd_m ** 2, cfg.meas_sd_m ** 2, 1.0, 1.0])
        self.kf = kf
        self.predicted = False  # whether statePre is the prediction for the next correct()
        self.t_kf = t
        self.times: list[float] = []
        self.joints: list[np.ndarray] = []
        self.conf: list[np.ndarray] = []
        self.floor: list[np.ndarray] = []
        self.raw_floor: list[np.ndarray] = []
        self.held = False  # coasting as one who stands hidden among neighbours (coast())
        self.last_seen = t
        self.hits = 0
        self.confirmed = False
        self.ended = False
        self.end_reason = ""
        self.exit_gate: str | None = None
        self.post: list[tuple[np.ndarray | None, float]] = []  # looks collected while settling a tangle
        self.settling = False  # parted from its tangle: collecting looks for the re-identification
        self.settle_t0 = 0.0
        self.last_dt = 0.0
        self.look_log: list[tuple[float, np.ndarray | None, float, bool]] = []  # (t, look, stature, tangled)
        self.own_since = -np.inf  # samples from here on are this body's own (re-identification moves earlier ones)

    # -- motion
    def predict(self, t: float) -> None:
        dt = t - self.t_kf
        if dt <= 0:
            return
        q = self.cfg.accel_sd ** 2
        F = np.eye(4)
        F[0, 2] = F[1, 3] = dt
        Q = np.zeros((4, 4))
        for i in (0, 1):
            Q[i, i] = q * dt ** 3 / 3
            Q[i, i + 2] = Q[i + 2, i] = q * dt ** 2 / 2
            Q[i + 2, i + 2] = q * dt
        self.kf.transitionMatrix = F
        self.kf.processNoiseCov = Q
        self.kf.predict()
        self.predicted = True
        self.t_kf = t
        self.last_dt = dt

    def coast(self, t: float, tangled: bool = False) -> None:
        """No detection this step: the prediction stands, the velocity decays. Someone lost among neighbours may
        be standing hidden there, and the velocity the filter carried into the loss (from the last skeletons,
        often half made of a neighbour's parts) would walk the track onto someone else: `tangled_coast_damp`
        stops it sooner. Measured in session 14, it made tracks better on the random recordings and worse
        on some cart recordings (a walker hidden while passing was left behind), so it is off by default."""
        cfg = self.cfg
        self.held = tangled and self.hidden_standing()
        damp = cfg.tangled_coast_damp if self.held and cfg.tangled_coast_damp is not None else cfg.coast_damp
        damp = damp ** self.last_dt
        s = self.kf.statePost.copy()
        s[2:] *= damp
        self.kf.statePost = s
        self.predicted = False

    def hidden_standing(self) -> bool:
        """Whether the person stood before they were lost: their sightings over the last `stood_s` before it stay
        within `stood_m` (a walker hidden while passing someone walks on)."""
        cfg = self.cfg
        if not self.times or cfg.stood_s <= 0:
            return cfg.stood_s <= 0
        k = bisect.bisect_left(self.times, self.times[-1] - cfg.stood_s)
        if self.times[k] > self.times[-1] - cfg.stood_s / 2:  # seen too briefly to say
            return False
        pts = np.asarray(self.raw_floor[k:])
        return bool(np.linalg.norm(pts - pts[-1], axis=1).max() < cfg.stood_m)

    def innovation_cov(self) -> np.ndarray:
        P = self.kf.errorCovPre if self.predicted else self.kf.errorCovPost
        return P[:2, :2] + self.kf.measurementNoiseCov

    @property
    def pos(self) -> np.ndarray:
        return self.kf.statePost[:2, 0].copy()

    def add(self, t: float, pose: Pose3D, tangled: bool, app: np.ndarray | None,
            clean: np.ndarray | None = None) -> None:
        if not self.predicted:
            self.kf.statePre = self.kf.statePost.copy()
            self.kf.errorCovPre = self.kf.errorCovPost.copy()
        xy = floor_point(pose)
        z = xy.reshape(2, 1).astype(np.float64)
        y = z[:, 0] - self.kf.statePre[:2, 0]
        d2 = float(y @ np.linalg.inv(self.innovation_cov()) @ y)
        R0 = np.eye(2) * self.cfg.meas_sd_m ** 2
        k2 = self.cfg.huber_sigma ** 2
        # Huber-like: an outlying measurement counts as a noisier one, so one bad frame cannot flip the velocity
        self.kf.measurementNoiseCov = R0 * (d2 / k2) if d2 > k2 else R0
        self.kf.correct(z)
        self.kf.measurementNoiseCov = R0
        self.predicted = False
        self.times.append(float(t))
        self.joints.append(np.asarray(pose.joints, float))
        self.conf.append(np.asarray(pose.confidence, float))
        self.floor.append(self.pos)
        self.raw_floor.append(xy)
        self.held = False
        self.last_seen = t
        self.hits += 1
        h = _stature(pose)
        self.look_log.append((float(t), clean, h, tangled))
        idn = self.ident
        a = self.cfg.app_alpha
        if len(idn.heights_any) < 30 and np.isfinite(h):
            idn.heights_any.append(h)
        if app is not None and (idn.app_any is None or len(idn.app_any) == len(app)):
            idn.app_any = app if idn.app_any is None else (1 - a) * idn.app_any + a * app
        if tangled:
            return
        if self.settling:
            self.post.append((app, h))
            return
        if np.isfinite(h):
            idn.heights.append(h)
            if len(idn.heights) > 300:
                del idn.heights[:100]
        if app is not None:
            idn.app = app if idn.app is None else (1 - self.cfg.app_alpha) * idn.app + self.cfg.app_alpha * app

    def split(self, t: float) -> tuple[list, list]:
        """Samples before t and from t on, as (times, joints, conf, floor, raw_floor) lists."""
        k = int(np.searchsorted(np.array(self.times), t))
        cols = (self.times, self.joints, self.conf, self.floor, self.raw_floor)
        return [c[:k] for c in cols], [c[k:] for c in cols]

    def set_samples(self, before: list, after: list) -> None:
        self.times, self.joints, self.conf, self.floor, self.raw_floor = [b + a for b, a in zip(before, after)]


def _kept_before(a: "_Body", t: float, overlap_s: float) -> int:
    """How many of a's samples come before t (a's samples at or after it are dropped when a continues in a track
    born at t); 0 when a runs on more than overlap_s past t (a body of its own, not a lost one)."""
    if not a.times or a.times[-1] - t > overlap_s:
        return 0
    return int(np.searchsorted(np.asarray(a.times), t - 1e-9))


def floor_point(p: Pose3D, min_conf: float = 0.3, max_spread_m: float = 0.45) -> np.ndarray:
    """(2,) where a person stands, robust to a badly triangulated foot.

    Between the ankles when both are confident and under the body (within
    max_spread_m of the point under the hips); with one such ankle, halfway
    between it and the point under the hips; else under the hips; else
    Pose3D.floor.
    """
    J, c = p.joints, p.confidence
    hips = [j for j in (11, 12) if np.isfinite(J[j]).all()]
    h = J[hips, :2].mean(0) if hips else None
    ankles = [j for j in (15, 16) if np.isfinite(J[j]).all() and c[j] >= min_conf and
              (h is None or np.linalg.norm(J[j, :2] - h) <= max_spread_m)]
    if len(ankles) == 2:
        return J[ankles, :2].mean(0)
    if ankles and h is not None:
        return (J[ankles[0], :2] + h) / 2
    if ankles:
        return J[ankles[0], :2].copy()
    if h is not None:
        return h
    return np.asarray(p.floor, float)


def _stature(p: Pose3D) -> float:
    """Body height estimated from rigid bone lengths (posture-independent, unlike the head's height); NaN
    when a bone of the chain is missing on both sides."""
    J = p.joints
    total = 0.0
    for sides in STATURE_BONES:
        L = [np.linalg.norm(J[a] - J[b]) for a, b in sides]
        L = [x for x in L if np.isfinite(x)]
        if not L:
            return float("nan")
        total += float(np.mean(L))
    return total * STATURE_K


def _unit(v: np.ndarray | None) -> np.ndarray | None:
    if v is None:
        return None
    v = np.asarray(v, float).ravel()
    if not np.isfinite(v).all():
        return None
    n = np.linalg.norm(v)
    return v / n if n > 0 else None


@dataclass
class _Look:
    """A person's look: caller appearance vector (unit length) and stature with its standard error."""
    app: np.ndarray | None
    h: float
    h_se: float

    @classmethod
    def of(cls, app: np.ndarray | None, heights: Sequence[float]) -> "_Look":
        hs = [h for h in heights if np.isfinite(h)]
        if not hs:
            return cls(app, float("nan"), float("nan"))
        # consecutive frames are far from independent: count one sample in three
        se = max(float(np.std(hs)), 0.02) / np.sqrt(max(len(hs) / 3, 1.0))
        return cls(app, float(np.median(hs)), se)


def _look_distance(a: _Look, b: _Look, cfg: LinkerConfig) -> tuple[float, bool, float]:
    """(distance, informative, variance of the distance) between two looks.

    With appearance vectors on both sides, appearance decides (distance of the
    unit vectors) and stature only adds the part of its difference beyond 3
    standard errors (+2 cm): a veto on clearly different bodies, not noise.
    With stature alone: the difference / height_scale, with its variance, so a
    decision can demand to clear the noise.
    """
    dh = abs(a.h - b.h)
    se = float(np.hypot(a.h_se, b.h_se)) if np.isfinite(dh) else float("nan")
    if a.app is not None and b.app is not None and len(a.app) == len(b.app):
        d = float(np.linalg.norm(_unit(a.app) - _unit(b.app)))
        if np.isfinite(dh):
            d += _stature_excess(dh, se, cfg)
        return d, True, 0.0
    if np.isfinite(dh):
        return dh / cfg.height_scale_m, True, (se / cfg.height_scale_m) ** 2
    return 0.0, False, 0.0


def _stature_excess(dh: float, se: float, cfg: LinkerConfig) -> float:
    """A stature difference beyond its noise (3 standard errors + 2 cm), in units of look distance: a veto on
    clearly different bodies, nothing for noise."""
    return max(dh - 3 * se - 0.02, 0.0) / cfg.height_scale_m


def _exchanges(n: int, allowed: list[tuple[int, int]], limit: int = 4096) -> list[tuple[int, ...]]:
    """Every permutation of range(n) made of disjoint swaps drawn from `allowed` (the identity included),
    at most `limit` of them."""
    out: list[tuple[int, ...]] = []

    def rec(k: int, perm: list[int], used: set[int]) -> None:
        if len(out) >= limit:
            return
        if k == len(allowed):
            out.append(tuple(perm))
            return
        rec(k + 1, perm, used)
        i, j = allowed[k]
        if i not in used and j not in used:
            perm[i], perm[j] = j, i
            rec(k + 1, perm, used | {i, j})
            perm[i], perm[j] = i, j

    rec(0, list(range(n)), set())
    return out


def _robust_height(hs: list[float]) -> float:
    return float(np.median(hs)) if hs else float("nan")


@dataclass
class _Episode:
    """Two bodies within tangle_m of each other from t0 to t1: the one moment their identities may have crossed."""
    a: int
    b: int
    t0: float
    t1: float
    tc: float  # closest approach: an exchange applies from here


@dataclass
class _Seg:
    """How a body looked over one stretch between two of its tangles."""
    app: np.ndarray | None  # mean look (unit)
    n_app: int
    h: float  # median stature
    h_se: float
    n_h: int


@dataclass(frozen=True)
class _Ref:
    """An identity's looks so far, as sums (so adding a stretch is cheap)."""
    app_sum: np.ndarray | None
    n_app: int
    h_sum: float
    h_w: float
    n_h: int


_NO_LOOKS = _Ref(None, 0, 0.0, 0.0, 0)


@dataclass
class _Group:
    """Tracks tangled together (transitively) until all have parted and settled."""
    members: set[int]
    pre: dict[int, tuple[np.ndarray | None, float, str | None]]  # key -> (look, height, id) before the tangle
    open_pairs: dict[tuple[int, int], float] = field(default_factory=dict)  # pair -> t0
    t0: float = 0.0
    closest: tuple[float, float] = (np.inf, 0.0)  # (distance, t)
    pair_closest: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict)  # pair -> (distance, t)
    settle_from: float | None = None


class Linker:
    """Online tracker: feed `update` in time order, then `finish` (module docstring)."""

    def __init__(self, store: Store, gate_events: Sequence[dict], fps: float = 15.0,
                 config: LinkerConfig | None = None) -> None:
        self.store = store
        self.cfg = config or LinkerConfig()
        self.fps = float(fps)
        self.scans = sorted(((float(e["t"]), i, e) for i, e in enumerate(gate_events)), key=lambda x: x[0])
        self.scan_used = {i: 0 for _, i, _ in self.scans}
        self.entries = store.entry_gates()
        self.exits = store.exit_gates()
        x0, y0, x1, y1 = store.bounds
        self.bounds = (x0 - 0.5, y0 - 0.5, x1 + 0.5, y1 + 0.5)
        self.live: list[_Body] = []
        self.ended: list[_Body] = []
        self.groups: list[_Group] = []
        self.next_key = 0
        self.next_id = 1
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.steps: list[float] = []  # every update's time: the grid a track's gaps are filled on
        self.ep_open: dict[tuple[int, int], list[float]] = {}  # pair -> [t0, closest distance, its time]
        self.episodes: list[_Episode] = []  # every pair tangle, closed
        self.beside: list[tuple[float, np.ndarray]] = []  # (first seen, where) of the births held back last step

    # -- public -----------------------------------------------------------------------
    def update(self, t: float, poses: Sequence[Pose3D], appearance: Sequence[np.ndarray | None] | None = None,
               clean_appearance: Sequence[np.ndarray | None] | None = None) -> dict[int, str]:
        """One time step; returns {index into poses: track id} for the confirmed tracks that got a detection."""
        cfg = self.cfg
        t = float(t)
        if self.t_first is None:
            self.t_first = t
        self.t_last = t
        self.steps.append(t)
        if appearance is not None and len(appearance) != len(poses):
            raise ValueError(f"appearance has {len(appearance)} entries for {len(poses)} poses")
        apps = [None] * len(poses) if appearance is None else [_unit(a) for a in appearance]
        clean = apps if clean_appearance is None else [_unit(a) for a in clean_appearance]
        floors = [floor_point(p) for p in poses]
        dets = [i for i, f in enumerate(floors) if np.isfinite(f).all()]
        for b in self.live:
            b.predict(t)
        tangled_now = self._tangled_keys()
        # assignment: floor distance, gated; height and look break ties
        B, D = len(self.live), len(dets)
        assigned: dict[int, int] = {}
        if B and D:
            pos = np.array([b.pos for b in self.live])
            fl = np.array([floors[i] for i in dets])
            dist = np.linalg.norm(pos[:, None] - fl[None], axis=-1)
            miss = np.array([max(t - b.last_seen - 1.5 / self.fps, 0.0) for b in self.live])
            gate = np.minimum(cfg.gate_m + cfg.coast_gate_mps * miss, cfg.max_gate_m)
            if cfg.held_gate_m > 0:  # one who stands hidden is found again where they stood, not on a passer-by
                gate = np.where([b.held for b in self.live], np.minimum(gate, cfg.held_gate_m), gate)
            cost = dist.copy()
            hd = np.array([_stature(poses[i]) for i in dets])
            ht = np.array([_robust_height(b.ident.heights) for b in self.live])
            dh = np.abs(ht[:, None] - hd[None])
            cost += cfg.height_weight * np.minimum(np.where(np.isfinite(dh), dh, 0.0), 0.2)
            da = [apps[i] for i in dets]
            m = len(next((a for a in da if a is not None), ()))
            if m:
                A = np.array([a if a is not None and len(a) == m else np.full(m, np.nan) for a in da])
                T = np.array([_unit(b.ident.app) if b.ident.app is not None and len(b.ident.app) == m
                              else np.full(m, np.nan) for b in self.live])
                dA = np.linalg.norm(T[:, None] - A[None], axis=-1)
                cost += cfg.app_weight * np.minimum(np.where(np.isfinite(dA), dA, 0.0), 1.0)
            ok = (dist < gate[:, None]) & ((self._maha(pos, fl) < cfg.maha_gate) | (dist < cfg.near_m))
            entrant_ok = self._entrant_guard(t, fl)
            ok &= entrant_ok
            # confirmed tracks first: a tentative track only gets what they leave
            pri = np.array([0.0 if b.confirmed else 5.0 for b in self.live])
            big = 1e6
            r, c = linear_sum_assignment(np.where(ok, cost + pri[:, None], big))
            for a, k in zip(r, c):
                if ok[a, k]:
                    assigned[a] = dets[k]
            # second chance, for a confirmed track that turned or stopped harder than its motion model allows:
            # a detection left over within loose_gate_m of where it was last seen, when no other track is as
            # near that detection
            free_t = [a for a in range(B) if a not in assigned and self.live[a].confirmed]
            free_d = [k for k in range(D) if dets[k] not in assigned.values()]
            if free_t and free_d and cfg.loose_gate_m > 0:
                last = np.array([self.live[a].raw_floor[-1] for a in free_t])
                d2 = np.linalg.norm(last[:, None] - fl[free_d][None], axis=-1)
                rival = dist[:, free_d].min(0)  # nearest track of all, by its prediction
                ok2 = (d2 < cfg.loose_gate_m) & (dist[free_t][:, free_d] <= rival[None] + 1e-9)
                ok2 &= entrant_ok[free_t][:, free_d]
                r2, c2 = linear_sum_assignment(np.where(ok2, d2, big))
                for a, k in zip(r2, c2):
                    if ok2[a, k]:
                        assigned[free_t[a]] = dets[free_d[k]]
        out: dict[int, str] = {}
        used = set(assigned.values())
        for a, b in enumerate(list(self.live)):
            if a in assigned:
                i = assigned[a]
                b.add(t, poses[i], b.key in tangled_now, apps[i], clean[i])
                if not b.confirmed and b.hits >= cfg.confirm_hits:
                    b = self._confirm(b)
                if b.confirmed:
                    out[i] = b.ident.id
            elif b.last_seen < t:  # (not one that has just taken over a new track)
                # (at the entry gate a party passes close together and a duplicate of a member is born: hold no one)
                b.coast(t, b.key in tangled_now and self._zone(b.raw_floor[-1], self.entries) is None)
        # births
        beside: list[tuple[float, np.ndarray]] = []
        for i in dets:
            if i in used:
                continue
            p = poses[i]
            if np.mean(np.asarray(p.confidence, float)) < cfg.min_det_conf:
                continue
            xy = floors[i]
            x0, y0, x1, y1 = self.bounds
            if not (x0 <= xy[0] <= x1 and y0 <= xy[1] <= y1):
                continue
            if any(np.linalg.norm(b.pos - xy) < cfg.birth_suppress_m for b in self.live):
                continue
            if self._zone(xy, self.entries) is None and any(
                    b.confirmed and b.last_seen == t and np.linalg.norm(b.pos - xy) < cfg.dup_m for b in self.live):
                # nobody appears mid-floor at someone's elbow: a second estimate of that someone, unless it stays
                # there as a body of its own (two people side by side, one of whose tracks was lost)
                since = next((t0 for t0, w in self.beside if np.linalg.norm(w - xy) < cfg.dup_still_m), t)
                beside.append((since, xy))
                if t - since < cfg.dup_persist_s:
                    continue
            nb = _Body(self.next_key, t, p, cfg)
            self.next_key += 1
            nb.add(t, p, False, apps[i], clean[i])
            self.live.append(nb)
            if cfg.confirm_hits <= 1:
                out[i] = self._confirm(nb).ident.id
        self.beside = beside
        self._end_missing(t)
        self._tangles(t)
        return out

    def _entrant_guard(self, t: float, fl: np.ndarray) -> np.ndarray:
        """(tracks x detections) False where a detection in an entry zone with a scan open, a person due to
        come in, would go to a track unseen for `entry_coast_s` that was last seen outside that zone: the
        newcomer is not someone lost inside the store walking back to the entrance."""
        cfg = self.cfg
        ok = np.ones((len(self.live), len(fl)), bool)
        lost = [(a, self._zone(b.raw_floor[-1], self.entries)) for a, b in enumerate(self.live)
                if b.confirmed and t - b.last_seen >= cfg.entry_coast_s]
        if not lost:
            return ok
        for k, xy in enumerate(fl):
            zone = self._zone(xy, self.entries)
            if zone is None or not self._scan_candidates(t, zone):
                continue  # not in an entry zone whose scan awaits someone
            for a, last_zone in lost:
                if last_zone is not zone:
                    ok[a, k] = False
        return ok

    def _maha(self, pos: np.ndarray, fl: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance (tracks x detections) of the innovations."""
        out = np.empty((len(self.live), len(fl)))
        for r, b in enumerate(self.live):
            Si = np.linalg.inv(b.innovation_cov())
            y = fl - pos[r]
            out[r] = np.einsum("ni,ij,nj->n", y, Si, y)
        return out

    def active(self) -> dict[str, np.ndarray]:
        """Confirmed live tracks: id -> current filtered floor position."""
        return {b.ident.id: b.pos for b in self.live if b.confirmed}

    def finish(self) -> list[Track]:
        """End every track (recording's end), settle pending re-identifications, return confirmed tracks by id."""
        t = self.t_last if self.t_last is not None else 0.0
        for b in list(self.live):
            self._end(b, t, "recording-end")
        for g in list(self.groups):
            for pair, t0 in list(g.open_pairs.items()):
                self._close_pair(g, pair, t)
            self._decide(g, t, final=True)
        self.groups = []
        self._relink_scans()
        if self.cfg.deferred_reid:
            self._resolve_identities()
        self._stitch()
        tracks = []
        for b in self.ended:
            if not b.confirmed or not b.times:
                continue
            self._fill_gaps(b)
            idn = b.ident
            tracks.append(Track(
                id=idn.id, times=np.array(b.times), joints=np.array(b.joints).reshape(-1, 17, 3),
                confidence=np.array(b.conf).reshape(-1, 17), floor=np.array(b.floor).reshape(-1, 2),
                account=idn.account, party=idn.party, role=idn.role, born_in_entry=idn.born_in_entry,
                ended_in_exit=b.end_reason == "exit", tangled=sorted(idn.tangled), reid=list(idn.reid),
                flags=list(dict.fromkeys(idn.flags)), birth_gate=idn.birth_gate, exit_gate=b.exit_gate,
                height_m=_robust_height(idn.heights or idn.heights_any), gaps=sorted(set(idn.gaps))))
        tracks.sort(key=lambda tr: tr.id)
        return tracks

    def _relink_scans(self) -> None:
        """Give back the scan places of duplicates born at the entry, and link the scans again in birth order.

        A party walking in close together is sometimes seen as one body too many for a moment: a second track on a
        member, lost within `stub_s` beside a mate who kept being seen. Online, that stub took one of the party's
        places, the member left over took the next scan (in cart seed 136 the next shopper's, who took the one
        after, down to the associate, who got none). Once the recording is in, such stubs hold no place."""
        born = sorted((b for b in self.ended if b.confirmed and b.times and b.ident.born_in_entry),
                      key=lambda b: b.ident.t_birth)
        stubs = {b.key for b in born if self._entry_duplicate(b)}
        if not stubs:
            return
        self.scan_used = {i: 0 for _, i, _ in self.scans}
        gates = {g.id: g for g in self.entries}
        for b in born:
            idn = b.ident
            idn.flags = [f for f in idn.flags if f not in ("no-scan", "account-ambiguous")]
            idn.account, idn.party, idn.role = None, None, "unknown"
            if b.key in stubs:
                idn.flags.append("duplicate-at-entry")
                continue
            gate = gates.get(idn.birth_gate or "")
            self._link_scan(b, self._scan_candidates(idn.t_birth, gate) if gate is not None else [])

    def _stitch(self) -> None:
        """Offline: a track lost mid-floor continues in a track born mid-floor after it, with no scan, when only
        the two fit each other (time, a walkable distance, looks within stitch_max_cost, clear of every other
        pairing by the look margin). Online the lost track was often not on that body when the new one was born
        (a swap the joint re-identification undid later), so only now can they be compared; the looks are read
        from the bodies themselves (the lost one's last, the new one's first seconds), not from identities that
        may have followed another body for a while. Repeated, so a person lost twice is stitched twice."""
        cfg = self.cfg
        if cfg.stitch_s <= 0:
            return
        while True:
            bodies = [b for b in self.ended if b.confirmed and b.times]
            lost = [a for a in bodies if a.end_reason == "lost" and "duplicate-at-entry" not in a.ident.flags]
            new = [b for b in bodies if not b.ident.born_in_entry and b.ident.account is None
                   and "present-at-start" not in b.ident.flags]
            if not lost or not new:
                return
            cost = np.full((len(lost), len(new)), np.inf)
            need = np.zeros_like(cost)
            heads = [self._own_look(b, last=False) for b in new]
            for i, a in enumerate(lost):
                tail = self._own_look(a, last=True)
                for j, b in enumerate(new):
                    n = _kept_before(a, b.times[0], cfg.stitch_overlap_s)
                    if n == 0:  # (also keeps a track from its own samples)
                        continue
                    gap = b.times[0] - a.times[n - 1]
                    if not 0 < gap <= cfg.stitch_s:
                        continue
                    if np.linalg.norm(b.raw_floor[0] - a.raw_floor[n - 1]) > 1.0 + cfg.relink_speed * gap:
                        continue
                    d, info, var = _look_distance(tail, heads[j], cfg)
                    if info and d <= cfg.stitch_max_cost:
                        cost[i, j], need[i, j] = d, self._need(var)
            done = False
            for i, j in sorted(zip(*np.nonzero(np.isfinite(cost))), key=lambda ij: cost[ij]):
                rivals = np.r_[np.delete(cost[i], j), np.delete(cost[:, j], i)]
                if (rivals - cost[i, j] >= need[i, j]).all():
                    self._join_tracks(lost[i], new[j])
                    done = True
                    break  # the candidates change: look again
            if not done:
                return

    def _own_look(self, b: _Body, last: bool) -> _Look:
        """A body's look over stitch_look_s of its own samples: its last seconds, or its first."""
        w = self.cfg.stitch_look_s
        own = [e for e in b.look_log if e[0] >= b.own_since - 1e-9]
        if own:
            lo, hi = (own[-1][0] - w, np.inf) if last else (-np.inf, own[0][0] + w)
            own = [e for e in own if lo <= e[0] <= hi]
        free = [e for e in own if not e[3]]
        use = free if len(free) >= 3 else own  # lost in a tangle: its tangled looks are all there is
        apps = [a for _, a, _, _ in use if a is not None]
        return _Look.of(_unit(np.mean(apps, 0)) if apps else None, [h for _, _, h, _ in use])

    def _join_tracks(self, a: _Body, b: _Body) -> None:
        """b's samples continue a's track (b's identity is folded into a's, and every mention of it renamed). a's own
        samples from b's birth on, if any, were another body's (_kept_before) and go."""
        ia, ib = a.ident, b.ident
        n = _kept_before(a, b.times[0], np.inf)
        a.set_samples([x[:n] for x in (a.times, a.joints, a.conf, a.floor, a.raw_floor)], [[]] * 5)
        ia.gaps.append((float(a.times[-1]), float(b.times[0])))
        ia.gaps += ib.gaps
        ia.tangled += ib.tangled
        ia.reid += [d for d in ib.reid if d not in ia.reid]
        ia.reid.sort(key=lambda d: d.t)
        ia.flags = [f for f in ia.flags if f != "lost"] + [f for f in ib.flags if f != "born-outside-entry"] + ["stitched"]
        a.set_samples([a.times, a.joints, a.conf, a.floor, a.raw_floor], [b.times, b.joints, b.conf, b.floor, b.raw_floor])
        a.look_log += b.look_log
        a.own_since = max(a.own_since, b.own_since)
        a.end_reason, a.exit_gate = b.end_reason, b.exit_gate
        self.ended.remove(b)
        old, new_id = ib.id, ia.id
        for o in self.ended:
            o.ident.tangled = [(t0, t1, new_id if other == old else other) for t0, t1, other in o.ident.tangled]
            for d in o.ident.reid:
                d.tracks = tuple(new_id if x == old else x for x in d.tracks)
                d.mapping = {(new_id if k == old else k): (new_id if v == old else v) for k, v in d.mapping.items()}
                d.margins = {(new_id if k == old else k): v for k, v in d.margins.items()}

    def _entry_duplicate(self, b: _Body) -> bool:
        """Whether b is, so far, a duplicate born at the entry: lost within stub_s beside a mate of its own scan who
        was seen after it. `_relink_scans` gives such a track's place back; `_relink` does not find it again in a
        later birth, which would make it long, keep its scan place and shift the scans of everyone after it."""
        idn = b.ident
        if not (b.end_reason == "lost" and idn.born_in_entry and idn.party is not None and b.times
                and b.times[-1] - b.times[0] < self.cfg.stub_s):
            return False
        return self._beside_mate(b, [o for o in self.ended + self.live
                                     if o.confirmed and o.times and o.ident.born_in_entry])

    def _beside_mate(self, b: _Body, born: list[_Body]) -> bool:
        """Whether a track of b's own scan, seen past b's end, was within tangle_m of b while b was seen."""
        for o in born:
            if o is b or o.ident.party != b.ident.party or o.times[-1] <= b.times[-1]:
                continue
            ts = np.array(o.times)
            for t, xy in zip(b.times, b.floor):
                k = int(np.argmin(np.abs(ts - t)))
                if abs(ts[k] - t) < 1e-6 and np.linalg.norm(np.asarray(o.floor[k]) - xy) < self.cfg.tangle_m:
                    return True
        return False

    def _fill_gaps(self, b: _Body) -> None:
        """Steps a track missed (occluded, merged with a neighbour) between two sightings: the person was there,
        so the floor position is drawn on the straight line between them; joints stay unknown (NaN, confidence 0).
        Only gaps up to fill_gap_s whose line needs no more than fill_speed_mps, or up to fill_still_s where the two
        sightings are within fill_still_m (one who stood hidden among neighbours); the gaps filled are kept on the
        identity (`gaps`), so nobody mistakes them for sightings."""
        cfg = self.cfg
        steps = np.array(self.steps)
        T = np.array(b.times)
        if len(T) < 2:
            return
        new = []
        for i in np.flatnonzero(np.diff(T) > 1.5 / self.fps):
            t0, t1 = T[i], T[i + 1]
            f0, f1 = b.floor[i], b.floor[i + 1]
            apart = np.linalg.norm(f1 - f0)
            if t1 - t0 > (cfg.fill_still_s if apart <= cfg.fill_still_m else cfg.fill_gap_s):
                continue
            if apart > cfg.fill_speed_mps * (t1 - t0):
                continue
            for t in steps[(steps > t0 + 1e-6) & (steps < t1 - 1e-6)]:
                w = (t - t0) / (t1 - t0)
                new.append((float(t), (1 - w) * f0 + w * f1))
            b.ident.gaps.append((float(t0), float(t1)))
        if not new:
            return
        nan = np.full((17, 3), np.nan)
        rows = list(zip(b.times, b.joints, b.conf, b.floor, b.raw_floor)) + \
            [(t, nan, np.zeros(17), f, f) for t, f in new]
        rows.sort(key=lambda r: r[0])
        b.times, b.joints, b.conf, b.floor, b.raw_floor = (list(c) for c in zip(*rows))

    # -- zones and scans ----------------------------------------------------------------
    def _zone(self, xy: np.ndarray, gates: list[Gate]) -> Gate | None:
        for g in gates:
            if g.contains(xy, self.cfg.zone_margin_m):
                return g
        return None

    def _confirm(self, b: _Body) -> _Body:
        """Make a tentative track a track (or the continuation of a lost one); returns the live body."""
        cfg = self.cfg
        b.confirmed = True
        idn = b.ident
        t_birth = b.times[0]
        idn.t_birth = t_birth
        xy = b.raw_floor[0]
        gate = self._zone(xy, self.entries)
        cands = self._scan_candidates(t_birth, gate) if gate is not None else []
        if not cands:  # not a fresh entry: perhaps a lost track found again
            old = self._relink(b)
            if old is not None:
                return old
        idn.id = f"t{self.next_id:03d}"
        self.next_id += 1
        if gate is not None:
            idn.born_in_entry = True
            idn.birth_gate = gate.id
            self._link_scan(b, cands)
        else:
            idn.flags.append("born-outside-entry")
            if self.t_first is not None and t_birth - self.t_first <= cfg.start_grace_s:
                idn.flags.append("present-at-start")
        return b

    def _scan_candidates(self, tb: float, gate: Gate) -> list[tuple[float, float, int, dict]]:
        """Scans of this entry gate around birth time tb with places left: (time gap, t_scan, index, event).

        The gap is tb - t_scan for a birth after the scan, `scan_early_weight` times t_scan - tb before it."""
        cfg = self.cfg
        cands = []
        for ts, i, e in self.scans:
            known = e.get("gate") in {g.id for g in self.entries}
            if e.get("kind", "entry") != "entry" or (known and e["gate"] != gate.id):
                continue
            if not ts - cfg.scan_pre_s <= tb <= ts + cfg.scan_window_s:
                continue
            if self.scan_used[i] >= int(e.get("party_size", 1)):
                continue
            gap = tb - ts if tb >= ts else cfg.scan_early_weight * (ts - tb)
            cands.append((gap, ts, i, e))
        return cands

    def _link_scan(self, b: _Body, cands: list[tuple[float, float, int, dict]]) -> None:
        cfg = self.cfg
        idn = b.ident
        if not cands:
            idn.flags.append("no-scan")
            return
        fifo = min(cands, key=lambda c: c[1])  # people pass the gate in the order they scanned ...
        cands.sort(key=lambda c: (c[0], c[1]))  # ... right after scanning: the nearest scan in time
        _, ts, i, e = cands[0]
        if (fifo[3].get("account") != e.get("account")) or (
                len(cands) > 1 and cands[1][0] - cands[0][0] < cfg.scan_ambiguous_s and
                cands[1][3].get("account") != e.get("account")):
            idn.flags.append("account-ambiguous")
        self.scan_used[i] += 1
        idn.account = e.get("account")
        idn.party = i
        idn.role = e.get("role", "shopper")

    # -- ending and relinking -------------------------------------------------------------
    def _end_missing(self, t: float) -> None:
        cfg = self.cfg
        tangled = self._tangled_keys()
        for b in list(self.live):
            miss = t - b.last_seen
            if not b.confirmed:
                if miss > cfg.tentative_miss_s:
                    self.live.remove(b)
                continue
            if miss <= 0:
                continue
            last = b.raw_floor[-1]
            ex = self._zone(last, self.exits)
            if ex is not None and miss >= cfg.exit_coast_s:
                b.exit_gate = ex.id
                self._end(b, t, "exit")
            elif miss > (cfg.tangled_coast_s if b.key in tangled else cfg.coast_s):
                self._end(b, t, "lost")

    def _end(self, b: _Body, t: float, reason: str) -> None:
        b.ended = True
        b.end_reason = reason
        if reason == "lost":
            b.ident.flags.append("lost")
        if b in self.live:
            self.live.remove(b)
        if b.confirmed:
            self.ended.append(b)
        for g in self.groups:
            for pair in [p for p in g.open_pairs if b.key in p]:
                self._close_pair(g, pair, b.last_seen)

    def _relink(self, b: _Body) -> _Body | None:
        """A track born outside the entry continues a recently lost one when it fits; returns that one."""
        cfg = self.cfg
        tb = b.times[0]
        xy = b.raw_floor[0]
        new_look = b.ident.look()
        cands = []
        coasting = [o for o in self.live if o.confirmed and o is not b and
                    tb - o.last_seen >= min(cfg.reacquire_miss_s, 1.0 / self.fps) - 1e-6]  # unseen at the birth
        for o in self.ended + coasting:
            if o in coasting:  # still coasting: the new track may be its person, found again
                gap = tb - o.last_seen
                if np.linalg.norm(o.raw_floor[-1] - xy) > 1.0 + cfg.relink_speed * gap:
                    continue
                d, info, var = _look_distance(o.ident.look(), new_look, cfg)
                if info and d <= cfg.relink_max_cost:
                    cands.append((d, o, var))
                continue
            if self._entry_duplicate(o):
                continue  # a second estimate of a party member at the gate: nobody's track to be found again in
            gap = tb - o.last_seen
            if not (o.end_reason == "lost" and 0 < gap <= cfg.relink_s or
                    o.end_reason == "exit" and 0 < gap <= cfg.exit_relink_s):  # ended in the exit but stayed
                continue
            if np.linalg.norm(o.raw_floor[-1] - xy) > 1.0 + cfg.relink_speed * (tb - o.last_seen):
                continue
            d, info, var = _look_distance(o.ident.look(), new_look, cfg)
            if not info or d > cfg.relink_max_cost:
                continue
            cands.append((d, o, var))
        if not cands:
            return None
        cands.sort(key=lambda c: c[0])
        if len(cands) > 1 and cands[1][0] - cands[0][0] < self._need(cands[0][2] + cands[1][2]):
            return None  # two lost tracks fit: do not guess
        o = cands[0][1]
        if o in self.ended:
            self.ended.remove(o)
            o.ident.flags = [f for f in o.ident.flags if f != "lost"] + ["relinked"]
        else:  # a coasting track takes over the new one's samples and filter
            self.live.remove(o)
            o.ident.flags.append("reacquired")
        o.exit_gate = None
        o.ident.gaps.append((o.last_seen, tb))
        o.set_samples([o.times, o.joints, o.conf, o.floor, o.raw_floor],
                      [b.times, b.joints, b.conf, b.floor, b.raw_floor])
        o.kf, o.t_kf, o.last_seen, o.hits = b.kf, b.t_kf, b.last_seen, o.hits + b.hits
        o.look_log += b.look_log
        o.ended, o.end_reason, o.settling, o.post = False, "", False, []
        self.live[self.live.index(b)] = o
        return o

    # -- tangles and re-identification ----------------------------------------------------------
    def _tangled_keys(self) -> set[int]:
        """Tracks in an open tangle now (not those that have parted and are settling)."""
        return {k for g in self.groups for p in g.open_pairs for k in p}

    def _group_of(self, key: int) -> _Group | None:
        return next((g for g in self.groups if key in g.members), None)

    def _tangles(self, t: float) -> None:
        cfg = self.cfg
        conf = [b for b in self.live if b.confirmed]
        by_key = {b.key: b for b in conf}
        # open and close pairs
        for i in range(len(conf)):
            for j in range(i + 1, len(conf)):
                a, b = conf[i], conf[j]
                pair = (min(a.key, b.key), max(a.key, b.key))
                d = float(np.linalg.norm(a.pos - b.pos))
                g = self._group_of(a.key)
                is_open = g is not None and pair in g.open_pairs
                if not is_open and d < cfg.tangle_m:
                    # a member that has already parted from its group meets someone new: settle that group
                    # now, on the looks seen so far, so groups do not chain through a crowd
                    for x in (a, b):
                        gx = self._group_of(x.key)
                        if gx is not None and x.settling and cfg.settle_on_new_tangle:
                            self._decide(gx, t)
                    g = self._join(a, b, t)
                    g.open_pairs[pair] = t
                    is_open = True
                if is_open:
                    ep = self.ep_open.setdefault(pair, [t, np.inf, t])
                    if d < ep[1]:
                        ep[1], ep[2] = d, t
                    if d < g.closest[0]:
                        g.closest = (d, t)
                    if d < g.pair_closest.get(pair, (np.inf, 0.0))[0]:
                        g.pair_closest[pair] = (d, t)
                    if d > cfg.release_m:
                        self._close_pair(g, pair, t)
        for g in list(self.groups):
            open_keys = {k for p in g.open_pairs for k in p}
            for k in g.members:  # members that have parted start collecting looks
                b = by_key.get(k)
                if b is not None and k not in open_keys and not b.settling:
                    b.settling, b.settle_t0, b.post = True, t, []
            if g.open_pairs:
                # one that has parted, settled and clearly kept its own look leaves the group early
                for k in sorted(g.members):
                    b = by_key.get(k)
                    if b is not None and b.settling and t - b.settle_t0 >= cfg.settle_s:
                        self._release(g, b, t)
                continue
            # everyone has parted: decide once they have been seen apart for settle_s
            if g.settle_from is None:
                g.settle_from = t
            live = [by_key[k] for k in g.members if k in by_key]
            if t - g.settle_from >= cfg.settle_s or not live:
                self._decide(g, t)

    def _join(self, a: _Body, b: _Body, t: float) -> _Group:
        ga, gb = self._group_of(a.key), self._group_of(b.key)
        if ga is None and gb is None:
            g = _Group(set(), {}, t0=t)
            self.groups.append(g)
        elif ga is not None and gb is not None and ga is not gb:
            ga.members |= gb.members
            for k, v in gb.pre.items():
                ga.pre.setdefault(k, v)
            ga.open_pairs.update(gb.open_pairs)
            ga.closest = min(ga.closest, gb.closest)
            ga.pair_closest.update(gb.pair_closest)
            ga.t0 = min(ga.t0, gb.t0)
            self.groups.remove(gb)
            g = ga
        else:
            g = ga or gb
        g.settle_from = None
        for x in (a, b):
            x.settling, x.post = False, []
            if x.key not in g.members:
                g.members.add(x.key)
                g.pre[x.key] = (x.ident.look(), x.ident.id)
        return g

    @staticmethod
    def _post_look(b: _Body) -> _Look:
        apps = [a for a, _ in b.post if a is not None]
        return _Look.of(np.mean(apps, 0) if apps else None, [h for _, h in b.post])

    def _need(self, var: float) -> float:
        """Margin a look comparison must clear: reid_margin, or 3 standard errors of the stature terms."""
        return max(self.cfg.reid_margin, 3.0 * float(np.sqrt(max(var, 0.0))))

    def _fold_post(self, b: _Body) -> None:
        """The looks seen after the tangle belong to the body's (now decided) identity."""
        a_ = self.cfg.app_alpha
        for a, h in b.post:
            if np.isfinite(h):
                b.ident.heights.append(h)
            if a is not None:
                b.ident.app = a if b.ident.app is None else (1 - a_) * b.ident.app + a_ * a
        b.post, b.settling = [], False

    def _release(self, g: _Group, b: _Body, t: float) -> None:
        """Early decision for one member that has parted while others are still tangled: keep, when clear."""
        if self.cfg.deferred_reid:
            return
        post = self._post_look(b)
        own, info, var = _look_distance(g.pre[b.key][0], post, self.cfg)
        others = []
        for k, (look, _) in g.pre.items():
            if k != b.key:
                d, i, v = _look_distance(look, post, self.cfg)
                if i:
                    others.append((d, v))
        if not info or not others:
            return
        d_min, v_min = min(others)
        margin = d_min - own
        if margin < self._need(2 * (var + v_min)):
            return  # not clear on its own: wait for the whole group
        ids = tuple(sorted(pid for _, pid in g.pre.values()))
        b.ident.reid.append(ReidDecision(
            t=float(t), tracks=ids, t_swap=float(g.closest[1]), mapping={b.ident.id: b.ident.id}, swapped=False,
            cost_keep=own, cost_chosen=own, margin=float(margin), ambiguous=False,
            reason="parted first; its look after matches its own look before", margins={b.ident.id: float(margin)},
            threshold=self._need(2 * (var + v_min))))
        self._fold_post(b)
        g.members.discard(b.key)
        g.pre.pop(b.key, None)

    def _close_pair(self, g: _Group, pair: tuple[int, int], t: float) -> None:
        t0 = g.open_pairs.pop(pair)
        ep = self.ep_open.pop(pair, None)
        if ep is not None:
            self.episodes.append(_Episode(pair[0], pair[1], ep[0], t, ep[2]))
        if self.cfg.deferred_reid:
            return  # the tangle goes on the tracks once identities are decided (finish)
        bodies = {b.key: b for b in self.live + self.ended}
        a, b = bodies.get(pair[0]), bodies.get(pair[1])
        if a is not None and b is not None:
            a.ident.tangled.append((t0, t, b.ident.id))
            b.ident.tangled.append((t0, t, a.ident.id))

    def _decide(self, g: _Group, t: float, final: bool = False) -> None:
        cfg = self.cfg
        self.groups.remove(g)
        bodies = {b.key: b for b in self.live + self.ended}
        keys = sorted(k for k in g.members if k in bodies)
        for k in keys:
            bodies[k].settling = False
        if cfg.deferred_reid:  # decided at the end, jointly (_resolve_identities)
            for k in keys:
                self._fold_post(bodies[k])
            return
        if len(keys) < 2:
            for k in keys:
                bodies[k].post = []
            return
        n = len(keys)
        # look of each identity before (pre) and of each body after (post)
        post = [self._post_look(bodies[k]) for k in keys]
        C = np.zeros((n, n))
        V = np.zeros((n, n))
        informative = np.zeros((n, n), bool)
        for i, ki in enumerate(keys):
            for j in range(n):
                C[i, j], informative[i, j], V[i, j] = _look_distance(g.pre[ki][0], post[j], cfg)
        ids = [bodies[k].ident.id for k in keys]
        identity = tuple(range(n))
        # a body without a look after the tangle (it left) or an identity without one before: a constant
        # cost in its column / row, so the others still decide among themselves
        C[~informative] = 0.0
        V[~informative] = 0.0
        keep = float(np.trace(C))
        # the stature terms are noisy: a decision must beat their spread, not only reid_margin
        need = self._need(2 * float(np.trace(V)))
        # candidate outcomes: disjoint exchanges between bodies that were tangled with each other (an identity
        # can only pass to a body it came within tangle_m of; a chain A-B, then B-C is two exchanges at two
        # moments, never one three-way permutation at a single instant)
        allowed = [(i, j) for i in range(n) for j in range(i + 1, n)
                   if (min(keys[i], keys[j]), max(keys[i], keys[j])) in g.pair_closest]
        ranked = sorted(((float(sum(C[i, p[i]] for i in range(n))), p) for p in _exchanges(n, allowed)),
                        key=lambda x: x[0])
        reason = ""
        if not informative.any():
            chosen, chosen_cost, margin = identity, keep, 0.0
            reason = "no look to compare (before or after the tangle)"
        else:
            best_cost, best = ranked[0]
            if best != identity and keep - best_cost >= need:
                chosen, chosen_cost = best, best_cost
            else:
                chosen, chosen_cost = identity, keep
            # margin: next best assignment's cost minus the chosen one's (negative: a better one was not taken)
            margin = min((c for c, p in ranked if p != chosen), default=np.inf) - chosen_cost
            if not informative.all():
                reason = "partly compared: some looks missing (a track left or was born in the tangle)"
        swap = chosen != identity
        ambiguous = not informative.any() or margin < need
        # per track: how much worse the best assignment that gives it another body is
        margins = {}
        for i in range(n):
            alt = [c for c, p in ranked if p[i] != chosen[i]]
            margins[ids[i]] = float(min(alt) - chosen_cost) if alt and informative.any() else \
                (0.0 if not informative.any() else float("inf"))
        # chosen[i] = j: identity i continues with body j after t_swap
        mapping = {ids[i]: ids[chosen[i]] for i in range(n)}
        # each exchange (a swap of two tracks that were tangled together) applies from that pair's closest approach
        swaps = [(i, chosen[i], g.pair_closest[(min(keys[i], keys[chosen[i]]), max(keys[i], keys[chosen[i]]))][1])
                 for i in range(n) if i < chosen[i]]
        t_swap = min((tc for _, _, tc in swaps), default=float(g.closest[1]))
        dec = ReidDecision(t=float(t), tracks=tuple(ids), t_swap=t_swap, mapping=mapping,
                           swapped=swap, cost_keep=keep, cost_chosen=chosen_cost, margin=float(margin),
                           ambiguous=ambiguous, reason=reason or ("final, at the recording's end" if final else ""),
                           margins=margins, threshold=need)
        if swap:
            for i, j, tc in swaps:
                self._apply([keys[i], keys[j]], (1, 0), tc, bodies)
        one_party = len({bodies[k].ident.account for k in keys}) == 1 and bodies[keys[0]].ident.account
        for k in keys:
            b = bodies[k]
            b.ident.reid.append(dec)
            if margins[b.ident.id] < need:
                # lesser doubts: within one party the account is the same whoever is who; people who walked
                # out together tangled changed nothing but their last steps
                if one_party:
                    b.ident.flags.append("reid-ambiguous-party")
                elif b.end_reason == "exit" and not b.post:
                    b.ident.flags.append("reid-ambiguous-exit")
                else:
                    b.ident.flags.append("reid-ambiguous")
            if swap and dec.mapping.get(b.ident.id) != b.ident.id:
                b.ident.flags.append("reid-swapped")
            self._fold_post(b)

    def _apply(self, keys: list[int], chosen: tuple[int, ...], t_swap: float, bodies: dict[int, _Body]) -> None:
        """Identity i continues with body chosen[i] from t_swap: move identities and their earlier samples."""
        parts = {k: bodies[k].split(t_swap) for k in keys}
        idents = {k: bodies[k].ident for k in keys}
        for i, ki in enumerate(keys):
            kj = keys[chosen[i]]
            body = bodies[kj]
            body.ident = idents[ki]
            body.set_samples(parts[ki][0], parts[kj][1])
            if kj != ki:
                body.own_since = max(body.own_since, t_swap)

    # -- deferred re-identification: one joint decision over every tangle ------------------------------
    def _segment(self, b: _Body, lo: float, hi: float) -> _Seg:
        """How body b looked between two of its tangles (untangled samples in [lo, hi))."""
        apps, hs = [], []
        for t, a, h, tangled in b.look_log:
            if lo - 1e-9 <= t < hi - 1e-9 and not tangled:
                if a is not None:
                    apps.append(a)
                if np.isfinite(h):
                    hs.append(h)
        look = _Look.of(_unit(np.mean(apps, 0)) if apps else None, hs)
        return _Seg(look.app, len(apps), look.h, look.h_se, len(hs))

    def _seg_cost(self, s: _Seg, ref: _Ref) -> tuple[float, bool]:
        """(cost, informative) of giving the identity whose looks so far are `ref` the stretch `s`: look distance
        (plus any stature difference beyond its noise), weighted by how much of the stretch was seen."""
        cfg = self.cfg
        d, info = 0.0, False
        if s.app is not None and ref.n_app > 0:
            d += float(np.linalg.norm(s.app - _unit(ref.app_sum)))
            info = True
        if s.n_h and ref.n_h:
            h_ref = ref.h_sum / ref.h_w
            se = float(np.hypot(s.h_se, 0.03 / np.sqrt(max(ref.n_h / 3, 1.0))))
            d += _stature_excess(abs(s.h - h_ref), se, cfg)
            info = True
        n = s.n_app if s.app is not None else s.n_h
        return d * min(n, cfg.seg_cap) / cfg.seg_unit, info

    @staticmethod
    def _ref_add(ref: _Ref, s: _Seg) -> _Ref:
        app_sum, n_app, h_sum, h_w, n_h = ref.app_sum, ref.n_app, ref.h_sum, ref.h_w, ref.n_h
        if s.app is not None:
            app_sum = s.app * s.n_app + (app_sum if app_sum is not None else 0.0)
            n_app += s.n_app
        if s.n_h:
            h_sum, h_w, n_h = h_sum + s.h * s.n_h, h_w + s.n_h, n_h + s.n_h
        return _Ref(app_sum, n_app, h_sum, h_w, n_h)

    def _resolve_identities(self) -> None:
        """Who is who after every tangle, decided once the whole recording is in (the engine runs offline).

        Every pair tangle is a place where two bodies may have exchanged identities. A hypothesis says, for each,
        whether they did; its cost sums, over every stretch a body walks between two of its tangles, the distance
        of that stretch's look from the looks its identity had in the stretches before (weighted by how much of
        the stretch was seen), plus `swap_prior` per exchange. A beam of `reid_beam` hypotheses is carried through
        the tangles in time order, so a tangle whose bodies show no look right after it (they walked straight into
        the next crowd) is decided by what they look like later. The margin of each decision is how much costlier
        the best hypothesis deciding it otherwise was than the chosen one, at the tangle where it was let go.
        """
        cfg = self.cfg
        bodies = [b for b in self.ended if b.confirmed and b.times]
        if not bodies:
            return
        idx = {b.key: i for i, b in enumerate(bodies)}
        eps = sorted((e for e in self.episodes if e.a in idx and e.b in idx and e.a != e.b), key=lambda e: (e.tc, e.a, e.b))
        if not eps:
            return
        E, nb = len(eps), len(bodies)
        marks: list[list[float]] = [[] for _ in range(nb)]
        for e in eps:
            marks[idx[e.a]].append(e.tc)
            marks[idx[e.b]].append(e.tc)
        birth_seg = [self._segment(b, -np.inf, marks[i][0] if marks[i] else np.inf) for i, b in enumerate(bodies)]
        after: list[tuple[_Seg, _Seg]] = []
        pos = [0] * nb
        for e in eps:
            pair = []
            for k in (e.a, e.b):
                i = idx[k]
                pos[i] += 1
                hi = marks[i][pos[i]] if pos[i] < len(marks[i]) else np.inf
                pair.append(self._segment(bodies[i], e.tc, hi))
            after.append((pair[0], pair[1]))
        # events in time order: a body's birth opens its identity with its first stretch; a tangle is decided
        events = sorted([(float(b.times[0]), 0, i) for i, b in enumerate(bodies)] + [(e.tc, 1, j) for j, e in enumerate(eps)])
        # a state: (cost, labels (body -> identity label), refs (label -> looks so far), decisions)
        states = [(0.0, tuple(range(nb)), (_NO_LOOKS,) * nb, np.zeros(E, np.int8))]
        dropped: list[tuple[int, np.ndarray, np.ndarray]] = []  # (tangle, costs, decisions) of hypotheses let go there

        for _, kind, j in events:
            if kind == 0:
                states = [(c, L, R[:j] + (self._ref_add(R[j], birth_seg[j]),) + R[j + 1:], H) for c, L, R, H in states]
                continue
            e = eps[j]
            ia, ib = idx[e.a], idx[e.b]
            sa, sb = after[j]
            nxt: dict[tuple, tuple] = {}
            gone = []
            for c, L, R, H in states:
                la, lb_ = L[ia], L[ib]
                for sw in (0, 1):
                    na, nb_ = (lb_, la) if sw else (la, lb_)
                    ca, _ = self._seg_cost(sa, R[na])
                    cb, _ = self._seg_cost(sb, R[nb_])
                    cost = c + ca + cb + (cfg.swap_prior if sw else 0.0)
                    L2 = list(L)
                    L2[ia], L2[ib] = na, nb_
                    R2 = list(R)
                    R2[na] = self._ref_add(R[na], sa)
                    R2[nb_] = self._ref_add(R2[nb_], sb)
                    H2 = H.copy()
                    H2[j] = sw
                    key = tuple(L2)
                    st = (cost, key, tuple(R2), H2)
                    old = nxt.get(key)
                    if old is None or cost < old[0]:
                        if old is not None:
                            gone.append(old)
                        nxt[key] = st
                    else:
                        gone.append(st)
            ranked = sorted(nxt.values(), key=lambda s: s[0])
            states = ranked[:cfg.reid_beam]
            gone += ranked[cfg.reid_beam:]
            if gone:
                dropped.append((j, np.array([g[0] for g in gone]), np.array([g[3] for g in gone])))
        best = states[0]
        dropped.append((E - 1, np.array([s[0] for s in states[1:]]), np.array([s[3] for s in states[1:]]).reshape(-1, E)))
        # margin of each decision: how much worse, at the tangle it was let go, the best hypothesis deciding it the
        # other way was than the chosen hypothesis at that same tangle (both then carry the same tangles' costs)
        prefix = self._apply_resolution(bodies, idx, eps, after, birth_seg, best[3], None)
        margins = np.full(E, np.inf)
        for j, c, H in dropped:
            if not len(c):
                continue
            gap = c - prefix[j]
            differs = H[:, :j + 1] != best[3][None, :j + 1]
            margins[:j + 1] = np.minimum(margins[:j + 1], np.where(differs, gap[:, None], np.inf).min(0))
        self._apply_resolution(bodies, idx, eps, after, birth_seg, best[3], margins)

    def _apply_resolution(self, bodies: list[_Body], idx: dict[int, int], eps: list[_Episode],
                          after: list[tuple[_Seg, _Seg]], birth_seg: list[_Seg], H: np.ndarray,
                          margins: np.ndarray | None) -> np.ndarray:
        """Replay the chosen hypothesis: exchange histories, and record each tangle and its decision on both tracks.
        Without margins only its cost after each tangle is returned (nothing is changed)."""
        cfg = self.cfg
        total, prefix = 0.0, np.zeros(len(eps))
        by_key = {b.key: b for b in bodies}
        idents = [b.ident for b in bodies]  # label i: the identity body i was born with
        labels = list(range(len(bodies)))
        refs = [self._ref_add(_NO_LOOKS, s) for s in birth_seg]
        need = cfg.reid_margin + cfg.swap_prior  # evidence beyond the prior against exchanges
        for j, e in enumerate(eps):
            ia, ib = idx[e.a], idx[e.b]
            la, lb_ = labels[ia], labels[ib]
            sa, sb = after[j]
            keep_a, info_a = self._seg_cost(sa, refs[la])
            keep_b, info_b = self._seg_cost(sb, refs[lb_])
            swap_a, _ = self._seg_cost(sa, refs[lb_])
            swap_b, _ = self._seg_cost(sb, refs[la])
            sw = bool(H[j])
            total += (swap_a + swap_b + cfg.swap_prior) if sw else (keep_a + keep_b)
            prefix[j] = total
            if sw:
                labels[ia], labels[ib] = lb_, la
            na, nb_ = labels[ia], labels[ib]
            refs[na] = self._ref_add(refs[na], sa)
            refs[nb_] = self._ref_add(refs[nb_], sb)
            if margins is None:
                continue
            if sw:
                self._apply([e.a, e.b], (1, 0), e.tc, by_key)
            A, B = idents[la], idents[lb_]
            m = float(margins[j])
            info = info_a or info_b
            keep = keep_a + keep_b
            dec = ReidDecision(
                t=float(max(e.t1, e.tc)), tracks=(A.id, B.id), t_swap=float(e.tc),
                mapping={A.id: B.id if sw else A.id, B.id: A.id if sw else B.id}, swapped=sw,
                cost_keep=float(keep), cost_chosen=float(swap_a + swap_b + cfg.swap_prior if sw else keep), margin=m,
                ambiguous=m < need,
                reason="" if info else ("no look to compare (before or after the tangle)" if m < need else
                                        "decided by the looks after later tangles"),
                margins={A.id: m, B.id: m}, threshold=need)
            for me, other, body in ((A, B, by_key[e.a]), (B, A, by_key[e.b])):
                me.tangled.append((float(e.t0), float(e.t1), other.id))
                me.reid.append(dec)
                if dec.ambiguous:
                    if A.account and A.account == B.account:
                        me.flags.append("reid-ambiguous-party")
                    elif body.end_reason == "exit" and (sa.n_h + sa.n_app + sb.n_h + sb.n_app) == 0:
                        me.flags.append("reid-ambiguous-exit")
                    else:
                        me.flags.append("reid-ambiguous")
                if sw:
                    me.flags.append("reid-swapped")
        if margins is not None:
            for idn in idents:
                idn.reid.sort(key=lambda d: d.t)
        return prefix
