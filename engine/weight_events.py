"""Load-cell change detection (design.md stage 5): every change between two stable levels of a cell.

A shelf plate reads the total load on its bins. A take or a put shows as a step between two
stable levels, with the plate shaking while a hand is in a bin; faults add slow drift, short
spikes that return to the old level, and dropouts (no samples for seconds). The detector:

1. splits the samples at dropouts (gaps much longer than the sampling period);
2. removes spikes: short excursions far from a wide running median whose levels before and after
   agree (flagged, never an event);
3. marks samples *stable* where a median-filtered signal is flat and the raw signal shows no more
   than sensor noise (a hand in the bin makes it unstable);
4. turns runs of stable samples into plateaus, merges neighbours at the same level (a touch, a
   shaken plate, a spike) and reports every remaining step as a WeightChange; a step whose unstable
   stretch holds a flat intermediate level is split in two (two reaches overlapping on one cell);
5. times each change where the filtered signal leaves the old level, and reads its size from the
   plateaus' edges corrected for the cell's drift, with an uncertainty from their noise.

Pure numpy/scipy: a 10-minute, 50-cell recording takes a fraction of a second. The evaluation
helper `match_events` compares changes with truth/events.jsonl per unit moved.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import maximum_filter1d, median_filter, minimum_filter1d, uniform_filter1d

from data.store import Store


@dataclass
class WeightChange:
    """A change between two stable levels of one load cell.

    t0 is when the load starts to change (what truth events' `t` means), t1 when it is stable
    again; `window` is the interval the start surely lies in (wide when a dropout hides it).
    delta_g = after_g - before_g: negative when something left the cell.
    """
    sensor: str
    t0: float
    t1: float
    before_g: float
    after_g: float
    delta_g: float
    sd_g: float  # one standard deviation of delta_g: plateau noise, sample counts, drift
    flags: list[str] = field(default_factory=list)  # dropout, spike-nearby, drift, vibration, overlap
    window: tuple[float, float] = (0.0, 0.0)


@dataclass
class Spike:
    """A short excursion that returned to the old level: a sensor fault, not an event."""
    sensor: str
    t0: float
    t1: float
    peak_g: float  # largest excursion from the level around it (signed)


@dataclass
class CellAnalysis:
    """Everything found on one cell: what the workstation plots under the video."""
    sensor: str
    changes: list[WeightChange]
    spikes: list[Spike]
    gaps: list[tuple[float, float]]  # (last sample before, first sample after) each dropout
    noise_g: float  # robust per-sample noise
    drift_g_per_min: float  # slope of the stable levels (0 when not significant)


@dataclass(frozen=True)
class DetectorParams:
    """Tuning of the detector; times in seconds, weights in grams."""
    median_s: float = 0.3  # median filter that suppresses noise and most of a hand's wobble
    stable_s: float = 0.3  # window over which a stable signal must be flat
    min_plateau_s: float = 0.1  # shortest run of stable samples that counts as a level
    level_s: float = 1.0  # how much of a plateau next to a change its level is read from
    min_delta_g: float = 10.0  # smaller steps are not events (lightest product in the presets: 31 g)
    z_delta: float = 6.0  # a step must also exceed this many standard deviations
    flat_k: float = 4.0  # filtered signal flat: range < flat_k * noise
    quiet_k: float = 2.4  # raw signal quiet: std < quiet_k * noise
    gap_periods: float = 3.0  # a gap longer than this many sampling periods is a dropout
    min_gap_s: float = 0.25
    spike_g: float = 60.0  # spikes are excursions of at least this much (and 15 noise sd)
    spike_max_s: float = 0.7
    split_g: float = 25.0  # an intermediate level this far from both ends splits a change in two...
    split_s: float = 0.2  # ...when the filtered signal dwells this long...
    split_band_g: float = 10.0  # ...within this much of it
    overlap_s: float = 1.6  # an unstable stretch longer than one reach: flag overlap
    drift_min_g_per_min: float = 0.5
    floor_sd_g: float = 0.3  # uncertainty no averaging removes (creep, quantisation)


DEFAULT = DetectorParams()


# -- small helpers ---------------------------------------------------------------------------------

def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end inclusive) of every run of True."""
    if not len(mask):
        return []
    m = np.concatenate([[False], mask.astype(bool), [False]])
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(d[::2], d[1::2])]


def _odd(n: float) -> int:
    k = max(int(round(n)), 1)
    return k if k % 2 else k + 1


def _noise(g: np.ndarray) -> float:
    """Per-sample noise from first differences (robust to steps, wobble and spikes)."""
    if len(g) < 3:
        return 1.0
    d = np.diff(g)
    return float(max(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2), 0.05))


class _Cell:
    """Working arrays for one cell's samples."""

    def __init__(self, t: np.ndarray, g: np.ndarray, sensor: str, rate_hz: float, p: DetectorParams):
        self.t, self.sensor, self.p = t, sensor, p
        self.slope, self.slope_sd = 0.0, np.inf  # drift (g/s), set once plateaus are known
        n = len(t)
        dt = np.diff(t)
        period = float(np.median(dt)) if n > 2 else 1.0 / rate_hz
        period = min(period, 1.0 / rate_hz * 2) if rate_hz > 0 else period
        self.period = period
        gap_s = max(p.gap_periods * period, p.min_gap_s)
        cut = np.flatnonzero(dt > gap_s)
        self.gaps = [(float(t[i]), float(t[i + 1])) for i in cut]
        bounds = np.concatenate([[0], cut + 1, [n]]).astype(int)
        self.segments = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        self.gap_after = np.zeros(n, bool)  # sample i is the last one before a gap
        self.gap_after[cut] = True
        self.sigma = _noise(g)
        self.spikes: list[Spike] = []
        self.patched = np.zeros(n, bool)  # samples a spike covered: no evidence of a stable level
        self.g = self._despike(g.astype(float).copy())
        self.x = np.empty(n)
        self.stable = np.zeros(n, bool)
        self.flat = np.zeros(n, bool)
        self.quiet = np.zeros(n, bool)
        for a, b in self.segments:
            self._stability(a, b)
        self.stable = self.flat & self.quiet & ~self.patched
        w = self.stable.astype(float)
        self.cn = np.concatenate([[0.0], np.cumsum(w)])
        self.cs = np.concatenate([[0.0], np.cumsum(w * self.g)])
        self.cs2 = np.concatenate([[0.0], np.cumsum(w * self.g * self.g)])
        self.ct = np.concatenate([[0.0], np.cumsum(w * t)])

    def _despike(self, g: np.ndarray) -> np.ndarray:
        thr = max(self.p.spike_g, 15 * self.sigma)
        for a, b in self.segments:
            self._sharp_spikes(g, a, b, thr)
        return self._returning_spikes(g, thr)

    def _sharp_spikes(self, g: np.ndarray, a: int, b: int, thr: float) -> None:
        """Spikes with abrupt edges: a jump from one sample to the next and a jump back within
        spike_max_s. A jump is a first difference far from both its neighbours' (a load change
        ramps over several samples, so its differences change gradually, a hand's wobble by far
        less than a spike). The samples in between are replaced by the straight line joining
        their neighbours, which keeps a load change that ramps under the spike."""
        if b - a < 5:
            return
        seg = g[a:b]
        d = np.diff(seg)
        e = np.zeros_like(d)
        e[1:-1] = d[1:-1] - 0.5 * (d[:-2] + d[2:])
        e[0], e[-1] = d[0] - d[1], d[-1] - d[-2]
        ae = np.abs(e)
        peak = ae >= np.maximum(np.concatenate([[0.0], ae[:-1]]), np.concatenate([ae[1:], [0.0]]))
        big = np.flatnonzero((ae > thr) & peak)
        if not len(big):
            return
        t = self.t[a:b]
        done = -1
        for k in big:
            if k <= done:
                continue
            for m in big[big > k]:
                if t[m] - t[k + 1] > self.p.spike_max_s:
                    break
                if np.sign(e[m]) != np.sign(e[k]) and 0.4 < abs(e[m]) / abs(e[k]) < 2.5:
                    i0, i1 = k, m + 1  # the samples that are still right around the spike
                    line = np.interp(np.arange(i0 + 1, i1), [i0, i1], [seg[i0], seg[i1]])
                    dev = seg[i0 + 1:i1] - line
                    j = int(np.argmax(np.abs(dev)))
                    if abs(dev[j]) < thr / 2:
                        continue
                    self.spikes.append(Spike(self.sensor, float(t[i0 + 1]), float(t[i1 - 1]), float(dev[j])))
                    seg[i0 + 1:i1] = line
                    self.patched[a + i0:a + i1 + 1] = True
                    done = m
                    break

    # spikes: far from a wide running median, short, and the level is the same on both sides
    def _returning_spikes(self, g: np.ndarray, thr: float) -> np.ndarray:
        p, t = self.p, self.t
        wide = _odd(2.0 * p.spike_max_s / self.period + 3)
        side = max(int(round(0.3 / self.period)), 2)
        for a, b in self.segments:
            seg = g[a:b]
            if len(seg) < 3:
                continue
            ref = median_filter(seg, size=min(wide, _odd(len(seg)) if len(seg) % 2 else len(seg) - 1),
                                mode="nearest")
            out = np.abs(seg - ref) > thr
            for i, j in _runs(out):
                if t[a + j] - t[a + i] > p.spike_max_s:
                    continue
                pre = seg[max(i - side, 0):i]
                post = seg[j + 1:j + 1 + side]
                if not len(pre) and not len(post):
                    continue
                lv_pre = float(np.median(pre)) if len(pre) else float(np.median(post))
                lv_post = float(np.median(post)) if len(post) else lv_pre
                if abs(lv_pre - lv_post) > thr / 2:
                    continue  # a step, not an excursion that returns
                level = (lv_pre + lv_post) / 2
                ex = seg[i:j + 1] - level
                k = int(np.argmax(np.abs(ex)))
                self.spikes.append(Spike(self.sensor, float(t[a + i]), float(t[a + j]), float(ex[k])))
                i0, j1 = max(i - 1, 0), min(j + 1, len(seg) - 1)  # edge samples may be half in
                seg[i0:j1 + 1] = np.interp(np.arange(i0, j1 + 1), [i0 - 1, j1 + 1], [lv_pre, lv_post])
                self.patched[a + i0:a + j1 + 1] = True
        return g

    def _stability(self, a: int, b: int) -> None:
        p, g = self.p, self.g[a:b]
        n = b - a
        m = min(_odd(p.median_s / self.period), n if n % 2 else n - 1)
        x = median_filter(g, size=max(m, 1), mode="nearest")
        self.x[a:b] = x
        w = max(int(round(p.stable_s / self.period)), 2)
        rng = maximum_filter1d(x, w, mode="nearest") - minimum_filter1d(x, w, mode="nearest")
        r = g - x  # what the median does not follow: noise, and a hand's wobble
        mu = uniform_filter1d(r, w, mode="nearest")
        var = uniform_filter1d(r * r, w, mode="nearest") - mu * mu
        sd = np.sqrt(np.maximum(var, 0.0))
        self.flat[a:b] = rng < max(p.flat_k * self.sigma, 3.0)
        self.quiet[a:b] = sd < p.quiet_k * self.sigma + 0.3
        if n < w:  # too short to judge
            self.flat[a:b] = False

    def level(self, lo_t: float, hi_t: float, i0: int, i1: int) -> tuple[float, float, float, float]:
        """(mean, variance, count, mean time) of stable samples in [i0, i1] with lo_t <= t <= hi_t."""
        lo = max(int(np.searchsorted(self.t, lo_t, "left")), i0)
        hi = min(int(np.searchsorted(self.t, hi_t, "right")) - 1, i1)
        if hi < lo:
            return np.nan, np.nan, 0.0, np.nan
        n = self.cn[hi + 1] - self.cn[lo]
        if n < 1:
            return np.nan, np.nan, 0.0, np.nan
        s = self.cs[hi + 1] - self.cs[lo]
        s2 = self.cs2[hi + 1] - self.cs2[lo]
        mean = s / n
        var = max(s2 / n - mean * mean, 0.0)
        return float(mean), float(var), float(n), float((self.ct[hi + 1] - self.ct[lo]) / n)


@dataclass
class _Plateau:
    i0: int
    i1: int


# -- detection -------------------------------------------------------------------------------------

def analyse_cell(t: np.ndarray, grams: np.ndarray, sensor: str, rate_hz: float,
                 params: DetectorParams = DEFAULT) -> CellAnalysis:
    """Changes, spikes, dropouts, noise and drift of one cell's samples (t sorted, seconds)."""
    t = np.asarray(t, float)
    g = np.asarray(grams, float)
    ok = np.isfinite(t) & np.isfinite(g)
    t, g = t[ok], g[ok]
    if len(t) > 1 and np.any(np.diff(t) < 0):
        o = np.argsort(t, kind="stable")
        t, g = t[o], g[o]
    if len(t) < 4:
        return CellAnalysis(sensor, [], [], [], 0.0, 0.0)
    c = _Cell(t, g, sensor, rate_hz, params)
    p = params
    min_run = max(int(round(p.min_plateau_s / c.period)), 2)
    plateaus = [_Plateau(a + i, a + j) for a, b in c.segments for i, j in _runs(c.stable[a:b])
                if j - i + 1 >= min_run]
    slope, slope_sd = _drift(c, plateaus)
    c.slope = slope if abs(slope) * 60 >= p.drift_min_g_per_min and abs(slope) > 3 * slope_sd else 0.0
    c.slope_sd = slope_sd
    changes: list[WeightChange] = []
    if plateaus:
        cur = plateaus[0]
        for nxt in plateaus[1:]:
            ch = _step(c, cur, nxt)
            if ch is None:
                cur = _Plateau(cur.i0, nxt.i1)  # same level: a touch, a shake or a spike in between
                continue
            changes += ch
            cur = nxt
    for ch in changes:
        if c.slope:
            ch.flags.append("drift")
        if any(s.t1 >= ch.window[0] - 2.0 and s.t0 <= ch.t1 + 2.0 for s in c.spikes) \
                and "spike-nearby" not in ch.flags:
            ch.flags.append("spike-nearby")
    return CellAnalysis(sensor, changes, c.spikes, c.gaps, c.sigma, c.slope * 60.0)


def find_changes(t: np.ndarray, grams: np.ndarray, sensor: str, rate_hz: float,
                 params: DetectorParams = DEFAULT) -> list[WeightChange]:
    """Every change between stable levels of one cell (see the module docstring)."""
    return analyse_cell(t, grams, sensor, rate_hz, params).changes


def _drift(c: _Cell, plateaus: list[_Plateau]) -> tuple[float, float]:
    """Pooled within-plateau slope (g/s) and its standard error, from plateaus of 3 s or more."""
    num = den = 0.0
    resid: list[tuple[np.ndarray, np.ndarray]] = []
    for pl in plateaus:
        if c.t[pl.i1] - c.t[pl.i0] < 3.0:
            continue
        tt, gg = c.t[pl.i0:pl.i1 + 1], c.g[pl.i0:pl.i1 + 1]
        tc, gc = tt - tt.mean(), gg - gg.mean()
        num += float(tc @ gc)
        den += float(tc @ tc)
        resid.append((tc, gc))
    if den <= 0:
        return 0.0, np.inf
    s = num / den
    ss = sum(float(((gc - s * tc) ** 2).sum()) for tc, gc in resid)
    n = sum(len(tc) for tc, _ in resid)
    return s, float(np.sqrt(ss / max(n - len(resid) - 1, 1) / den))


def _edge_levels(c: _Cell, a: _Plateau, b: _Plateau) -> tuple[tuple, tuple]:
    p = c.p
    ta, tb = c.t[a.i1], c.t[b.i0]
    la = c.level(ta - p.level_s, ta, a.i0, a.i1)
    lb = c.level(tb, tb + p.level_s, b.i0, b.i1)
    return la, lb


def _step(c: _Cell, a: _Plateau, b: _Plateau) -> list[WeightChange] | None:
    """The change(s) between two plateaus, or None when they are at the same level."""
    p = c.p
    (ma, va, na, ta_bar), (mb, vb, nb, tb_bar) = _edge_levels(c, a, b)
    if na < 1 or nb < 1:
        return None
    s2 = c.sigma ** 2
    span = tb_bar - ta_bar
    delta = mb - ma - c.slope * span
    sd = float(np.sqrt(max(va, s2) / na + max(vb, s2) / nb + (c.slope_sd * span if np.isfinite(c.slope_sd)
                                                                   else 0.0) ** 2 + p.floor_sd_g ** 2))
    ia, ib = a.i1, b.i0
    gap = bool(c.gap_after[ia:ib].any())
    if gap:
        # the load may have changed at any time in the gap, and drift over it is unknown
        sd = float(np.sqrt(sd ** 2 + (p.drift_min_g_per_min / 60 * span) ** 2 + 1.0))
    before = ma + c.slope * (c.t[ia] - ta_bar)
    parts = [] if gap else _split(c, ia, ib, before, before + delta)
    if abs(delta) < max(p.min_delta_g, p.z_delta * sd):
        if not parts:
            return None
        delta = 0.0  # out and back: a take and a put (or the reverse) overlapping
    if parts:
        out = []
        levels = [before] + [lv for lv, _, _ in parts] + [before + delta]
        bounds = [ia] + [k for _, k, _ in parts] + [ib]
        ends = [ia] + [e for _, _, e in parts] + [ib]
        for k in range(len(levels) - 1):
            lo, hi = ends[k], bounds[k + 1]
            out.append(_make(c, lo, hi, levels[k], levels[k + 1], sd * np.sqrt(1.5), gap=False,
                             flags=["overlap"]))
        return out
    ch = _make(c, ia, ib, before, before + delta, sd, gap=gap, flags=[])
    if not gap and c.t[ib] - c.t[ia] > p.overlap_s:
        ch.flags.append("overlap")
    return [ch]


def _split(c: _Cell, ia: int, ib: int, a: float, b: float) -> list[tuple[float, int, int]]:
    """Intermediate levels between two plateaus (two reaches overlapping): (level, i0, i1).

    The filtered signal must dwell split_s within a band of 2 * split_band_g at a level split_g
    or more from both ends and from the previous level. A single ramp passes any such level in a
    fraction of that time, and a hand's wobble stays closer to the level it shakes.
    """
    p = c.p
    n = ib - ia - 1
    w = max(int(round(p.split_s / c.period)), 2)
    if n < w + 2:
        return []
    x = c.x[ia + 1:ib]
    band = max(p.split_band_g, 4 * c.sigma)
    rng = maximum_filter1d(x, w, mode="nearest") - minimum_filter1d(x, w, mode="nearest")
    thr = max(p.split_g, 10 * c.sigma)
    found: list[tuple[float, int, int]] = []
    prev = a
    for i, j in _runs(rng < 2 * band):
        lo, hi = max(i - w // 2, 0), min(j + w // 2, n - 1)
        if c.t[ia + 1 + hi] - c.t[ia + 1 + lo] < p.split_s * 0.9:
            continue
        lv = float(np.median(x[lo:hi + 1]))
        if abs(lv - prev) > thr and abs(lv - b) > thr:
            found.append((lv, ia + 1 + lo, ia + 1 + hi))
            prev = lv
    return found


def _make(c: _Cell, ia: int, ib: int, before: float, after: float, sd: float, gap: bool,
          flags: list[str]) -> WeightChange:
    """One change between the last stable sample ia before and the first stable sample ib after."""
    p, t, x = c.p, c.t, c.x
    d = after - before
    flags = list(flags)
    seg = slice(ia, ib + 1)
    raw = c.g[seg]
    if len(raw) > 3:  # far outside every level the filtered signal went through: a spike
        hi, lo = max(before, after, float(x[seg].max())), min(before, after, float(x[seg].min()))
        excess = np.maximum(raw - hi, lo - raw)
        if excess.max() > max(p.spike_g, 15 * c.sigma):
            flags.append("spike-nearby")
    if (~c.quiet[seg]).sum() * c.period > 0.3:
        flags.append("vibration")
    if gap:
        flags.append("dropout")
        k = ia + int(np.argmax(c.gap_after[ia:ib]))  # last sample before the (first) gap
        g0, g1 = t[k], t[k + 1]
        prog_pre = (x[ia:k + 1] - before) / d
        prog_post = (x[k + 1:ib + 1] - before) / d
        if len(prog_pre) and prog_pre.max() > 0.5:  # it had started before the gap
            t0 = _start_time(t[ia:k + 1], prog_pre)
        elif len(prog_post) and prog_post.min() < 0.5:  # it finishes after the gap
            t0 = max(g1 - 0.3, g0)
        elif not c.quiet[ia:k + 1].all():  # a hand was in the bin as the samples stopped
            t0 = g0
        elif not c.quiet[k + 1:ib + 1].all():  # a hand still in the bin when they came back
            t0 = max(g1 - 0.5, g0)
        else:
            t0 = (g0 + g1) / 2
        return WeightChange(c.sensor, float(t0), float(t[ib]), float(before), float(after), float(d), float(sd),
                            flags, (float(t[ia]), float(g1)))
    prog = (x[seg] - before) / d if d else np.zeros(ib - ia + 1)
    t0 = _start_time(t[seg], prog)
    half = ia + int(np.argmax(prog >= 0.5)) if (prog >= 0.5).any() else ib
    return WeightChange(c.sensor, float(t0), float(t[ib]), float(before), float(after), float(d), float(sd),
                        flags, (float(t[ia]), float(max(t[half], t0))))


def _start_time(t: np.ndarray, prog: np.ndarray) -> float:
    """When progress (0 old level .. 1 new level) first leaves the old level on its way past half."""
    above = prog >= 0.5
    if not above.any():
        return float(t[-1])
    h = int(np.argmax(above))
    k = h
    while k > 0 and prog[k - 1] > 0.12:
        k -= 1
    return float(t[max(k - 1, 0)]) if k > 0 else float(t[0])


# -- recordings ------------------------------------------------------------------------------------

def analyse_recording(rec: Any, params: DetectorParams = DEFAULT) -> dict[str, CellAnalysis]:
    """CellAnalysis of every load cell of an opened recording (data.recording.Recording)."""
    series = rec.weights()
    out = {}
    for s in rec.store.sensors:
        if s.kind != "load_cell":
            continue
        t, g = series.get(s.id, (np.zeros(0), np.zeros(0)))
        out[s.id] = analyse_cell(t, g, s.id, s.rate_hz, params)
    return out


def changes_of_recording(rec: Any, params: DetectorParams = DEFAULT) -> dict[str, list[WeightChange]]:
    """Every load cell's changes (weights.csv or weights.csv.gz, read by data.recording)."""
    return {k: a.changes for k, a in analyse_recording(rec, params).items()}


# -- evaluation ------------------------------------------------------------------------------------

REACH_S = 3.0  # a multi-unit truth line's later units may come this much later each


@dataclass
class Match:
    """One row of the comparison: a change and the truth units it stands for (fp: none; fn: no change)."""
    status: str  # "tp" | "fp" | "fn"
    sensor: str
    change: WeightChange | None
    truth: list[dict]  # truth event lines (one entry per unit; a qty-q line appears q times)
    dt: float | None = None  # change t0 - first truth t


def _signed_g(e: dict, unit_g: Mapping[str, float]) -> float:
    return (-1 if e["kind"] == "take" else 1) * unit_g.get(e.get("sku", ""), 0.0)


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1 (1.0 where there is nothing to get wrong)."""
    pr = tp / (tp + fp) if tp + fp else 1.0
    rc = tp / (tp + fn) if tp + fn else 1.0
    return pr, rc, (2 * pr * rc / (pr + rc) if pr + rc else 0.0)


def match_events(changes: Mapping[str, list[WeightChange]] | Iterable[WeightChange], truth_events: list[dict],
                 store: Store, tol_s: float = 1.0,
                 unit_g: Mapping[str, float] | None = None) -> tuple[int, int, int, list[Match]]:
    """Compare detected changes with truth/events.jsonl, counting units moved.

    Truth lines that name a bin (take, put, restock) count qty units each on the bin's cell: the
    first at `t`, later ones of a multi-unit line within `tol_s + (k-1) * REACH_S` (the simulator
    writes one line per unit, each at its reach's time). Each change is first paired one-to-one
    with the nearest unit within tol_s; a change may then also absorb further units within tol_s of
    its t0 (reaches so close that the plate steps once for both) when, given `unit_g` (sku ->
    grams), that brings the summed weight closer to its delta. tp counts matched units, fn
    unmatched units, fp changes that match none; so F1 is per unit moved.
    """
    if isinstance(changes, Mapping):
        all_changes = [c for v in changes.values() for c in v]
    else:
        all_changes = list(changes)
    units: list[tuple[str, float, float, dict]] = []  # sensor, t, latest t, line
    for e in truth_events:
        b = e.get("bin")
        if not b or e.get("kind") not in ("take", "put", "restock") or b not in store.bin_by_id:
            continue
        for k in range(int(e.get("qty", 1))):
            units.append((store.bin_by_id[b].sensor, float(e["t"]), float(e["t"]) + tol_s + k * REACH_S, e))
    details: list[Match] = []
    tp = fp = fn = 0
    sensors = sorted({u[0] for u in units} | {c.sensor for c in all_changes})
    for s in sensors:
        cs = sorted((c for c in all_changes if c.sensor == s), key=lambda c: c.t0)
        us = sorted((u for u in units if u[0] == s), key=lambda u: u[1])
        pairs = sorted(((abs(c.t0 - u[1]), i, j) for i, c in enumerate(cs) for j, u in enumerate(us)
                        if u[1] - tol_s <= c.t0 <= u[2]), key=lambda x: x[0])
        got: dict[int, list[int]] = {}
        used: set[int] = set()
        for _, i, j in pairs:
            if i in got or j in used:
                continue
            got[i] = [j]
            used.add(j)
        for _, i, j in pairs:  # absorb: one step for several units
            if i not in got or j in used or abs(cs[i].t0 - us[j][1]) > tol_s:
                continue
            if unit_g is not None:
                now = sum(_signed_g(us[jj][3], unit_g) for jj in got[i])
                if abs(now + _signed_g(us[j][3], unit_g) - cs[i].delta_g) >= abs(now - cs[i].delta_g):
                    continue
            got[i].append(j)
            used.add(j)
        for i, c in enumerate(cs):
            if i in got:
                tr = [us[j][3] for j in got[i]]
                tp += len(tr)
                details.append(Match("tp", s, c, tr, c.t0 - min(float(e["t"]) for e in tr)))
            else:
                fp += 1
                details.append(Match("fp", s, c, []))
        for j, u in enumerate(us):
            if j not in used:
                fn += 1
                details.append(Match("fn", s, None, [u[3]]))
    return tp, fp, fn, details
