"""Everything the workstation draws for one recording, read from files and addressed by time (no Qt).

A `VisitScene` joins the recording (cameras, store, catalog, load cells, truth), the engine run
(3D poses, tracks, per-camera detections and keypoints) and the cart's evidence (events with their
alternatives). Widgets ask it questions by time: where is everyone at t, what does each person
hold at t, which camera sees this event best. Kept free of Qt so it is testable and reusable.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data.cameras import Camera
from data.errors import RecordingError
from data.recording import Recording, open_recording
from engine.evidence import Evidence, Visit, load_evidence
from engine.run import CameraFrames, Run, RunError, load_run

WRIST = {"left": 9, "right": 10}
DOUBTFUL = 0.9  # an event read with less confidence than this is one to look at


@dataclass
class Held:
    """One product a person holds at a moment (taken and not put back yet)."""
    sku: str
    qty: int


class LazyWeights(Mapping):
    """The load cells' readings, parsed in a background thread from the moment the scene opens: the cameras'
    first frames do not wait for a CSV parse; the plots, built after them, do (join on first use)."""

    def __init__(self, rec: Recording, problems: list[str]) -> None:
        self._data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._problems = problems
        self._thread = threading.Thread(target=self._read, args=(rec,), name="read-weights", daemon=True)
        self._thread.start()

    def _read(self, rec: Recording) -> None:
        try:
            self._data = rec.weights()
        except RecordingError as e:
            self._problems.append(str(e))

    def _get(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        self._thread.join()
        return self._data

    def __getitem__(self, k: str) -> tuple[np.ndarray, np.ndarray]:
        return self._get()[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def event_key(e) -> str:  # noqa: ANN001 - Event (id is the key) or the database's EventView (key)
    return str(getattr(e, "key", None) or e.id)


@dataclass
class Focus:
    """The visit being reviewed: its span, its people and its events (from the database or the evidence)."""
    visit: str
    entered_at: float
    exited_at: float | None
    tracks: list[str]
    events: list

    @classmethod
    def from_evidence(cls, ev: Evidence, visit: str) -> Focus:
        v = next(x for x in ev.visits if x.visit == visit)
        t1 = v.exited_at if v.exited_at is not None else 1e9
        events = [e for e in ev.events if e.visit == visit or any(s.value == visit for s in e.shoppers)
                  or (e.visit is None and v.entered_at - 1 <= e.t0 <= t1 + 1 and e.kind != "restock")]
        return cls(visit, v.entered_at, v.exited_at, list(v.tracks), events)


@dataclass
class VisitScene:
    rec: Recording
    run: Run | None
    evidence: Evidence | None
    weights: Mapping[str, tuple[np.ndarray, np.ndarray]]
    problems: list[str] = field(default_factory=list)  # what could not be read, said once to the user
    truth_t: np.ndarray | None = None
    truth_people: np.ndarray | None = None
    truth_joints: np.ndarray | None = None
    truth_events: list[dict] = field(default_factory=list)
    focus: Focus | None = None
    _frames: dict[str, CameraFrames | None] = field(default_factory=dict)

    # -- loading ----------------------------------------------------------------------------------
    @classmethod
    def load(cls, rec_dir: Path, run_dir: Path | None) -> VisitScene:
        """Read what exists; a missing or broken part is a problem to show, not a crash (the recording itself
        must open: without it there is nothing to review)."""
        rec = open_recording(Path(rec_dir))
        problems: list[str] = []
        run = evidence = None
        if run_dir is not None:
            try:
                run = load_run(Path(run_dir))
            except RunError as e:
                problems.append(str(e))
            try:
                evidence = load_evidence(Path(run_dir))
            except RunError as e:
                problems.append(str(e))
        s = cls(rec, run, evidence, LazyWeights(rec, problems), problems)
        tp = rec.root / "truth" / "poses.npz"
        if tp.exists():
            try:
                z = np.load(tp)
                s.truth_t, s.truth_people, s.truth_joints = z["t"], z["people"], z["joints"]
            except (OSError, KeyError, ValueError) as e:
                problems.append(f"{tp}: unreadable ({e})")
        try:
            s.truth_events = rec.truth_events()
        except (OSError, ValueError) as e:
            problems.append(f"truth/events.jsonl: unreadable ({e})")
        return s

    # -- people -----------------------------------------------------------------------------------
    @property
    def track_ids(self) -> list[str]:
        return [str(p) for p in self.run.people] if self.run is not None else []

    def _interp(self, t_grid: np.ndarray, arr: np.ndarray, t: float) -> np.ndarray:
        """Linear interpolation along the first axis (NaN stays NaN), clamped at the ends."""
        if len(t_grid) == 1 or t <= t_grid[0]:
            return arr[0]
        if t >= t_grid[-1]:
            return arr[-1]
        i = int(np.searchsorted(t_grid, t)) - 1
        a = (t - t_grid[i]) / (t_grid[i + 1] - t_grid[i])
        return arr[i] * (1 - a) + arr[i + 1] * a

    def joints_at(self, t: float) -> np.ndarray:
        """The engine's 3D skeletons at t, (P, 17, 3), interpolated between its estimates (last answer kept:
        six tiles ask for the same moment)."""
        if self.run is None or not len(self.run.t):
            return np.zeros((0, 17, 3))
        memo = self.__dict__.get("_joints_memo")
        if memo is None or memo[0] != t:
            memo = (t, self._interp(self.run.t, self.run.joints, t))
            self.__dict__["_joints_memo"] = memo
        return memo[1]

    def confidence_at(self, t: float) -> np.ndarray:
        """Per track, the mean joint confidence at t (NaN where the track has no estimate)."""
        if self.run is None or not len(self.run.t):
            return np.zeros(0)
        c = self._interp(self.run.t, self.run.confidence, t)
        with np.errstate(invalid="ignore"):
            c = np.where(c > 0, c, 0.0)
            n = (c > 0).sum(1)
            return np.where(n > 0, c.sum(1) / np.maximum(n, 1), np.nan) if c.size else np.zeros(0)

    def floor_at(self, t: float) -> np.ndarray:
        if self.run is None or not len(self.run.t):
            return np.zeros((0, 2))
        return self._interp(self.run.t, self.run.floor, t)

    def path_of(self, p: int, t0: float, t1: float) -> np.ndarray:
        """Track p's floor positions (n, 2) between t0 and t1."""
        if self.run is None:
            return np.zeros((0, 2))
        m = (self.run.t >= t0) & (self.run.t <= t1)
        xy = self.run.floor[m, p]
        return xy[np.isfinite(xy).all(1)]

    def truth_joints_at(self, t: float) -> np.ndarray:
        if self.truth_joints is None:
            return np.zeros((0, 17, 3))
        i = int(np.argmin(np.abs(self.truth_t - t)))
        return self.truth_joints[i]

    def camera_frames(self, cam: str) -> CameraFrames | None:
        """The engine's per-frame detections and 2D keypoints for a camera (None when the run has none)."""
        if cam not in self._frames:
            try:
                self._frames[cam] = self.run.camera_frames(cam) if self.run is not None else None
            except RunError:
                self._frames[cam] = None
        return self._frames[cam]

    # -- the visit in focus -----------------------------------------------------------------------
    def focus_on(self, focus: Focus | None) -> None:
        self.focus = focus

    def visit(self, key: str) -> Visit | None:
        """The engine's visit from the evidence file (None without one)."""
        if self.evidence is None:
            return None
        return next((v for v in self.evidence.visits if v.visit == key), None)

    def span(self, key: object = None) -> tuple[float, float]:
        """The focused visit's time span, a second either side (the whole recording when none)."""
        f = self.focus
        if f is None:
            return 0.0, self.rec.duration_s
        t1 = f.exited_at if f.exited_at is not None else self.rec.duration_s
        return max(0.0, f.entered_at - 1.0), min(self.rec.duration_s, t1 + 1.0)

    def events_of(self, key: object = None) -> list:
        """The focused visit's events, by time (Event or the database's EventView: same fields)."""
        return sorted(self.focus.events, key=lambda e: e.t0) if self.focus is not None else []

    def event(self, ekey: str):  # noqa: ANN201 - Event or EventView
        return next((e for e in self.events_of() if event_key(e) == ekey), None)

    def doubtful(self, key: object = None) -> list:
        return [e for e in self.events_of() if (e.confidence < DOUBTFUL or e.reasons)
                and not getattr(e, "no_event", False)]

    def least_certain(self, key: object = None):  # noqa: ANN201
        ev = [e for e in self.events_of() if not getattr(e, "no_event", False)]
        return min(ev, key=lambda e: e.confidence) if ev else None

    def cells_of(self, key: object = None, limit: int = 4, first: str | None = None) -> list[str]:
        """The load cells the visit's events happened on, least certain first (`first` leading); the liveliest
        cells of the recording when the visit has no event."""
        worst: dict[str, float] = {}
        for e in self.events_of():
            worst[e.sensor] = min(worst.get(e.sensor, 1.0), e.confidence)
        if not worst:
            for sid, (t, g) in self.weights.items():
                worst[sid] = -float(np.ptp(g)) if len(g) > 1 else 0.0
        cells = sorted(worst, key=lambda s: (s != first, worst[s], s))
        return cells[:limit]

    def held_at(self, t: float) -> dict[str, list[Held]]:
        """Track id -> products in that person's hands or bag at t (takes minus puts finished before t)."""
        out: dict[str, dict[str, int]] = {}
        for e in self.events_of():
            if e.track is None or e.sku is None or e.t1 > t or getattr(e, "no_event", False):
                continue
            sign = {"take": 1, "put": -1, "misplaced_put": -1}.get(e.kind, 0)
            if sign:
                d = out.setdefault(e.track, {})
                d[e.sku] = d.get(e.sku, 0) + sign * e.qty
        return {k: [Held(s, q) for s, q in v.items() if q > 0] for k, v in out.items()}

    def product_name(self, sku: str | None) -> str:
        if sku is None:
            return "?"
        p = self.rec.catalog.by_sku.get(sku)
        return p.name if p else sku

    # -- cameras ----------------------------------------------------------------------------------
    def bin_corners(self, bin_id: str) -> np.ndarray:
        """The four 3D corners of a bin's opening (4, 3)."""
        b = self.rec.store.bin_by_id[bin_id]
        c, along, up = self.rec.store.opening(b)
        return np.array([c - along - up, c + along - up, c + along + up, c - along + up])

    def bins_in(self, cam: Camera) -> list[tuple[str, np.ndarray]]:
        """(bin id, opening corners in pixels (4, 2)) of the bins this camera sees; cached (bins never move)."""
        cache = self.__dict__.setdefault("_bins_px", {})
        if cam.id not in cache:
            bins = self.rec.store.bins
            corners = np.array([self.bin_corners(b.id) for b in bins]).reshape(-1, 3)
            uv = cam.project(corners).reshape(len(bins), 4, 2) if len(bins) else np.zeros((0, 4, 2))
            ok = np.isfinite(uv).all((1, 2)) & cam.in_image(uv.mean(1)) if len(bins) else np.zeros(0, bool)
            cache[cam.id] = [(b.id, uv[k]) for k, b in enumerate(bins) if ok[k]]
        return cache[cam.id]

    def people_in(self, cam: Camera, t: float) -> np.ndarray:
        """Every track's skeleton at t projected into a camera, (P, 17, 2) pixels (NaN where unknown)."""
        j = self.joints_at(t)
        return cam.project(j.reshape(-1, 3)).reshape(len(j), 17, 2) if len(j) else np.zeros((0, 17, 2))

    def best_camera(self, e) -> str | None:  # noqa: ANN001 - Event or EventView
        """The camera that sees an event's bin and hand best: both in the image, closest to its centre."""
        if e is None or e.bin is None or e.bin not in self.rec.store.bin_by_id:
            return None
        target = [self.bin_corners(e.bin).mean(0)]
        if e.hand_path:
            hp = np.asarray(e.hand_path, float)
            target.append(hp[np.argmin(np.abs(hp[:, 0] - e.t0)), 1:4])
        pts = np.asarray(target)
        best, score = None, -np.inf
        for cam in self.rec.cameras:
            uv = cam.project(pts)
            if not cam.in_image(uv, margin=8).all():
                continue
            d = np.linalg.norm(uv - [cam.width / 2, cam.height / 2], axis=1).max() / max(cam.width, cam.height)
            z = float(np.mean(cam.to_camera(pts)[:, 2]))
            s = -d - 0.05 * z
            if s > score:
                best, score = cam.id, s
        return best

    def camera(self, cid: str) -> Camera:
        return self.rec.camera(cid)
