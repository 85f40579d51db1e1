"""Turns a scenario into what really happens: every person's motion, reaches and items.

A fixed-step simulation (30 Hz) of all people at once. Each person works
through their actions as a queue of small tasks (walk to a spot, reach into a
bin, wait, meet for a hand-over, leave). Walking follows shortest paths around
the shelves (`data.navigation`) and keeps a body's distance from everyone else
by choosing, each step, the closest safe heading to the desired one. Reaches
put the wrist inside the bin's opening (`data.skeleton.solve_reach`) and move
units while the hand is in. Whatever cannot happen (an empty bin, putting back
what nobody holds, a hand-over nobody receives, people still inside at the
end) raises ScenarioError naming the person and the action.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from data.errors import ScenarioError
from data.navigation import FloorGrid
from data.scenario import Action, Person, Scenario
from data.skeleton import Body, PoseState, frame, rest_wrist, shoulder, skeleton, solve_reach
from data.store import Bin, Catalog, Store
from data.world import Appearance, HandInBin, HeldItem, LoadChange, PersonInfo, World

DT = 1.0 / 30.0
SEPARATION = 0.45  # body centres never come closer (m)
COMFORT = 0.6  # walkers keep this much when they can
GATE_CYCLE_S = 2.0  # one party through an entry gate at a time
STAND_OFF = 0.40  # body centre to the shelf face when reaching (m)
APPROACH_S, RETRACT_S, DWELL_S = 0.7, 0.6, 0.8
CHANGE_AFTER_IN_S = 0.15  # the load starts to change this long after the hand is in
GRACE_S = 600.0  # how long past duration_s we simulate before declaring people stuck

SHIRTS = [(200, 40, 40), (40, 90, 200), (30, 150, 60), (230, 180, 30), (140, 50, 160), (240, 120, 30),
          (20, 160, 170), (220, 220, 220), (60, 60, 60), (180, 90, 120), (100, 180, 230), (150, 200, 60)]
TROUSERS = [(40, 40, 60), (70, 60, 50), (30, 50, 90), (90, 90, 95), (25, 25, 25), (120, 100, 70)]
SKINS = [(236, 200, 170), (210, 160, 120), (170, 120, 85), (120, 80, 55), (90, 60, 40)]
HAIRS = [(30, 25, 20), (80, 50, 30), (160, 120, 60), (200, 190, 150), (110, 110, 110)]


def _smooth(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def _wrap(a: float) -> float:
    return (a + np.pi) % (2 * np.pi) - np.pi


def _norm(v: np.ndarray) -> float:
    """np.linalg.norm(v) of a 1-D vector, bit for bit (sqrt of v.dot(v)), without its overhead: walking
    people ask for millions of these per recording."""
    return math.sqrt(v.dot(v))


def _norms(x: np.ndarray) -> np.ndarray:
    """np.linalg.norm(x, axis=1), bit for bit, without its overhead."""
    return np.sqrt(np.add.reduce(x * x, axis=1))


@dataclass
class Handover:
    """A hand_over paired with its receive: both people meet, then units change hands."""
    giver: str
    receiver: str
    sku: str
    qty: int
    giver_action: int
    receiver_action: int
    start: float | None = None
    done: bool = False


class Sim:
    """The shared state of one simulation: people, bins' units, and what happened."""

    def __init__(self, scenario: Scenario, store: Store, catalog: Catalog) -> None:
        self.sc, self.store, self.catalog = scenario, store, catalog
        self.rng = np.random.default_rng(scenario.seed)
        self.grid = FloorGrid.from_store(store)
        self.t = 0.0
        self.unit_weight: dict[int, float] = {}
        self.unit_sku: dict[int, str] = {}
        self.bin_units: dict[str, list[int]] = {}
        for b in store.bins:
            self.bin_units[b.id] = [self.new_unit(b.sku) for _ in range(b.stock)]
        self.initial_units = {k: list(v) for k, v in self.bin_units.items()}
        self.load_changes: list[LoadChange] = []
        self.hands_in_bins: list[HandInBin] = []
        self.events: list[dict] = []
        self.held: list[HeldItem] = []
        self.actors: list[Actor] = []

    def new_unit(self, sku: str) -> int:
        uid = len(self.unit_weight)
        p = self.catalog.by_sku[sku]
        self.unit_weight[uid] = float(max(p.weight_g + self.rng.normal(0, p.weight_sd_g), 0.1 * p.weight_g))
        self.unit_sku[uid] = sku
        return uid

    def present(self) -> list[Actor]:
        return [a for a in self.actors if a.active]


class Actor:
    """One simulated person working through their actions."""

    def __init__(self, sim: Sim, person: Person, appearance: Appearance, speed: float, scan_t: float) -> None:
        self.sim, self.p, self.look = sim, person, appearance
        self.body = Body(appearance.height_m)
        self.speed = speed
        self.scan_t = scan_t
        self.active = False
        self.gone = False
        self.exited_at = np.nan
        self.pos = np.zeros(2)
        self.vel = np.zeros(2)
        self.heading = 0.0
        self.gait = 0.0
        self.stride = 0.0
        self.action_i = -1  # index of the action being done
        self.tasks: list[Task] = []
        self.holding: dict[int, tuple[str, float]] = {}  # unit -> (hand, since)
        self.pose_lean = 0.0
        self.pose_crouch = 0.0
        self.pose_wrist: dict[str, np.ndarray | None] = {}
        self.gaze: float | None = None
        self.stuck_s = 0.0
        self.busy_standing = False  # reaching or exchanging: others walk around

    # -- identity in messages ---------------------------------------------------------
    def where(self) -> str:
        if 0 <= self.action_i < len(self.p.actions):
            return f"person {self.p.id}, action {self.action_i + 1} ({self.p.actions[self.action_i].describe()})"
        return f"person {self.p.id}"

    def fail(self, why: str) -> ScenarioError:
        return ScenarioError(f"{self.where()}: {why} (at t={self.sim.t:.1f} s)")

    # -- holding ------------------------------------------------------------------------
    def hold(self, unit: int, hand: str, t: float) -> None:
        self.holding[unit] = (hand, t)

    def release(self, unit: int, t: float) -> None:
        hand, since = self.holding.pop(unit)
        if t > since:
            self.sim.held.append(HeldItem(self.p.id, self.sim.unit_sku[unit], hand, since, t, unit))

    def move_to_hand(self, unit: int, hand: str, t: float) -> None:
        if self.holding[unit][0] != hand:
            self.release(unit, t)
            self.hold(unit, hand, t)

    def units_of(self, sku: str) -> list[int]:
        return [u for u in self.holding if self.sim.unit_sku[u] == sku]

    def carrying(self) -> frozenset[str]:
        return frozenset(h for h, _ in self.holding.values())

    # -- the step -----------------------------------------------------------------------
    def next_tasks(self) -> None:
        while not self.tasks:
            self.action_i += 1
            if self.action_i < len(self.p.actions):
                self.tasks = expand(self, self.p.actions[self.action_i])
            elif self.action_i == len(self.p.actions):
                self.tasks = [Leave()]
            else:
                return

    def step(self, t: float) -> None:
        self.next_tasks()
        if self.tasks and self.tasks[0].step(self, t):
            self.tasks.pop(0)
            self.next_tasks()

    def pose(self) -> np.ndarray:
        st = PoseState(pos=self.pos, heading=self.heading, gait_phase=self.gait, stride=self.stride,
                       lean=self.pose_lean, crouch=self.pose_crouch, wrist=self.pose_wrist,
                       carrying=self.carrying(), gaze=self.gaze)
        return skeleton(self.body, st)

    # -- walking ------------------------------------------------------------------------
    def walk_toward(self, goal: np.ndarray, t: float, ignore: Actor | None = None, arrive_tol: float = 0.1) -> float:
        """One step of walking toward goal, around shelves and people. Returns the distance left."""
        grid = self.sim.grid
        to_goal = goal - self.pos
        dist = float(np.linalg.norm(to_goal))
        if dist < arrive_tol:
            self.settle()
            return dist
        aim = grid.steer(self.pos, goal)
        d = aim - self.pos
        nd = float(np.linalg.norm(d))
        want_speed = min(self.speed, 0.4 + dist * 1.2) if dist < 1.0 else self.speed
        base = np.arctan2(d[1], d[0]) if nd > 1e-6 else self.heading
        others = [a for a in self.sim.present() if a is not self]
        op = np.array([a.pos for a in others]) if others else np.zeros((0, 2))
        ov = np.array([a.vel for a in others]) if others else np.zeros((0, 2))
        soft = np.array([a is not ignore for a in others], bool)
        wide = self.stuck_s > 1.0
        angles = (0, 20, -20, 40, -40, 60, -60, 85, -85) + ((110, -110, 140, -140, 180) if wide else ())
        chosen = np.zeros(2)
        n_vel = _norm(self.vel)
        now = _norms(op - self.pos) if len(op) else None
        for frac in (1.0, 0.6, 0.3):
            for ang in angles:
                a = base + np.radians(ang)
                v = np.array([np.cos(a), np.sin(a)]) * want_speed * frac
                # acceleration limit (braking is always allowed)
                dv = v - self.vel
                lim = 3.0 * DT
                n_dv = _norm(dv)
                if n_dv > lim and _norm(v) > n_vel:
                    v = self.vel + dv / n_dv * lim
                new = self.pos + v * DT
                if not grid.is_free(new):
                    continue
                if now is not None:
                    nxt = _norms(op - new)
                    if ((nxt < SEPARATION) & (nxt < now + 1e-9)).any():
                        continue
                    ahead = _norms((op + ov * 0.6) - (self.pos + v * 0.6))
                    if not wide and (soft & (ahead < COMFORT) & (ahead < now - 1e-3)).any():
                        continue
                chosen = v
                break
            if chosen.any():
                break
        self.vel = chosen
        self.pos = self.pos + chosen * DT
        sp = float(np.linalg.norm(chosen))
        self.stuck_s = self.stuck_s + DT if sp < 0.05 else max(0.0, self.stuck_s - DT)
        if sp > 0.15:
            self.turn_to(float(np.arctan2(chosen[1], chosen[0])), 5.0)
        self.gait = (self.gait + 2 * np.pi * sp * DT / (1.45 * self.body.s)) % (2 * np.pi)
        self.stride += (min(1.0, sp / 1.1) - self.stride) * 0.2
        return float(np.linalg.norm(goal - self.pos))

    def settle(self) -> None:
        """Standing still: the stride fades, feet come together."""
        self.vel = np.zeros(2)
        self.stride *= 0.8
        if self.stride < 0.02:
            self.stride = 0.0

    def turn_to(self, heading: float, rate: float) -> None:
        diff = _wrap(heading - self.heading)
        self.heading = _wrap(self.heading + float(np.clip(diff, -rate * DT, rate * DT)))


# -- tasks ----------------------------------------------------------------------------------

class Task:
    def step(self, a: Actor, t: float) -> bool:  # True when done
        raise NotImplementedError


@dataclass
class WaitUntil(Task):
    until: float

    def step(self, a: Actor, t: float) -> bool:
        a.settle()
        return t >= self.until


@dataclass
class WaitFor(Task):
    s: float
    not_before: float | None = None
    end: float | None = None

    def step(self, a: Actor, t: float) -> bool:
        a.settle()
        if self.end is None:
            self.end = max(t, self.not_before or 0.0) + self.s
        return t >= self.end


@dataclass
class WalkTo(Task):
    goal: np.ndarray

    def step(self, a: Actor, t: float) -> bool:
        left = a.walk_toward(self.goal, t)
        if left < 0.12:
            a.settle()
            return True
        return False


def stand_spots(store: Store, b: Bin) -> list[np.ndarray]:
    """Floor spots to reach into a bin from, best first: in front of the opening, then to its sides."""
    centre, along, _ = store.opening(b)
    f = store.facing(b)
    f3 = np.array([f[0], f[1], 0.0])
    base = centre + f3 * STAND_OFF
    u = along / (np.linalg.norm(along) or 1.0)
    return [(base + u * off)[:2] for off in (0.18, -0.18, 0.45, -0.45, 0.7, -0.7)]


@dataclass
class GoToBin(Task):
    bin: Bin
    spot: np.ndarray | None = None
    spot_i: int = 0

    def pick(self, a: Actor) -> None:
        grid = a.sim.grid
        spots = [s for s in stand_spots(a.sim.store, self.bin) if grid.is_free(s)]
        if not spots:
            spots = [grid.nearest_free(stand_spots(a.sim.store, self.bin)[0])]
        others = [o.pos for o in a.sim.present() if o is not a and o.busy_standing]
        free = [s for s in spots if all(np.linalg.norm(s - o) > 0.5 for o in others)]
        pool = free or spots
        # the nearest of the free spots to where we come from
        self.spot = min(pool, key=lambda s: float(np.linalg.norm(s - a.pos)))

    def step(self, a: Actor, t: float) -> bool:
        if self.spot is None:
            self.pick(a)
            if not a.sim.grid.reachable(a.pos, self.spot):
                raise a.fail(f"bin {self.bin.id} cannot be reached on foot from where the person stands")
        if np.linalg.norm(self.spot - a.pos) < 1.5 and (a.stuck_s > 2.0 or int(t / DT) % 15 == 0):
            before = self.spot
            self.pick(a)
            if a.stuck_s > 2.0 and np.allclose(before, self.spot):
                # still blocked: any other spot of this bin
                spots = [s for s in stand_spots(a.sim.store, self.bin) if a.sim.grid.is_free(s)]
                self.spot_i = (self.spot_i + 1) % max(len(spots), 1)
                if spots:
                    self.spot = spots[self.spot_i]
                a.stuck_s = 0.0
        left = a.walk_toward(self.spot, t, arrive_tol=0.08)
        if left < 0.1:
            a.settle()
            return True
        return False


@dataclass
class Reach(Task):
    """One reach into a bin: approach, hand in (the load changes), retract."""
    kind: str  # take | put | touch | restock
    bin: Bin
    sku: str | None = None
    dwell: float = DWELL_S
    not_before: float | None = None
    t0: float | None = None
    hand: str = "right"
    target: np.ndarray | None = None
    start_heading: float = 0.0
    pose: object = None
    unit: int | None = None
    changed: bool = False

    def begin(self, a: Actor, t: float) -> None:
        sim = a.sim
        centre, along, up = sim.store.opening(self.bin)
        f = sim.store.facing(self.bin)
        inward = -np.array([f[0], f[1], 0.0])
        jitter = along * sim.rng.uniform(-0.35, 0.35) + up * sim.rng.uniform(-0.3, 0.2)
        self.target = centre + jitter + inward * 0.07
        dists = {}
        for hand in ("left", "right"):
            rp = solve_reach(a.body, a.pos, self.target, hand)
            dists[hand] = (not rp.reachable, float(np.linalg.norm(
                shoulder(a.body, a.pos, rp.heading, rp.lean, rp.crouch, hand) - self.target)), rp)
        self.hand = min(("right", "left"), key=lambda h: dists[h][:2])
        self.pose = dists[self.hand][2]
        self.start_heading = a.heading
        self.t0 = t
        self.rest = rest_wrist(a.body, a.pos, self.pose.heading, self.hand,
                               self.hand in a.carrying())
        self.pre = self.target - inward * 0.15
        if self.kind == "put":
            unit = self.unit_to_put(a)
            a.move_to_hand(unit, self.hand, t)
            self.unit = unit
        elif self.kind == "restock":
            self.unit = sim.new_unit(self.sku or self.bin.sku)
            a.hold(self.unit, self.hand, t)

    def unit_to_put(self, a: Actor) -> int:
        sku = self.sku or self.bin.sku
        units = a.units_of(sku)
        if not units:
            held = sorted({a.sim.unit_sku[u] for u in a.holding})
            raise a.fail(f"puts back {sku} but holds none (holds {', '.join(held) or 'nothing'})")
        return units[-1]

    def step(self, a: Actor, t: float) -> bool:
        a.busy_standing = True
        a.settle()
        if self.t0 is None:
            if self.not_before is not None and t < self.not_before:
                return False
            self.begin(a, t)
        e = t - self.t0
        t_in, t_out = APPROACH_S, APPROACH_S + self.dwell
        end = t_out + RETRACT_S
        if e < t_in:
            k = _smooth(e / t_in)
        elif e < t_out:
            k = 1.0
        else:
            k = 1.0 - _smooth((e - t_out) / RETRACT_S)
        a.heading = _wrap(self.start_heading + _wrap(self.pose.heading - self.start_heading) * _smooth(e / 0.4))
        a.pose_lean = self.pose.lean * k
        a.pose_crouch = self.pose.crouch * k
        a.gaze = None
        if k < 0.6:
            w = self.rest + (self.pre - self.rest) * _smooth(k / 0.6)
        else:
            w = self.pre + (self.target - self.pre) * _smooth((k - 0.6) / 0.4)
        a.pose_wrist = {self.hand: w}
        if not self.changed and e >= t_in + CHANGE_AFTER_IN_S:
            self.changed = True
            self.apply(a, self.t0 + t_in + CHANGE_AFTER_IN_S)
        if e >= end:
            a.pose_wrist = {}
            a.pose_lean = a.pose_crouch = 0.0
            a.busy_standing = False
            a.sim.hands_in_bins.append(HandInBin(a.p.id, self.bin.id, self.t0 + t_in, self.t0 + t_out))
            return True
        return False

    def apply(self, a: Actor, tc: float) -> None:
        sim, b = a.sim, self.bin
        if self.kind == "touch":
            return
        if self.kind == "take":
            sku = self.sku or b.sku
            units = [u for u in sim.bin_units[b.id] if sim.unit_sku[u] == sku]
            if not units:
                raise a.fail(f"bin {b.id} has no {sku} left to take")
            unit = units[int(sim.rng.integers(len(units)))]
            sim.bin_units[b.id].remove(unit)
            sim.load_changes.append(LoadChange(tc, b.id, sku, unit, -1))
            a.hold(unit, self.hand, tc)
        else:  # put or restock: the unit leaves the hand into the bin
            unit = self.unit
            if unit not in a.holding:  # handed over meanwhile: cannot happen in one task, but be safe
                raise a.fail("no longer holds the unit to put")
            a.release(unit, tc)
            sim.bin_units[b.id].append(unit)
            sim.load_changes.append(LoadChange(tc, b.id, sim.unit_sku[unit], unit, +1))
        sim.events.append({"t": round(tc, 3), "kind": self.kind, "person": a.p.id, "account": a.p.account,
                           "bin": b.id, "sku": sim.unit_sku[unit], "qty": 1})


@dataclass
class Meet(Task):
    """Hand-over: wait for the partner's matching action, walk together, pass the units."""
    ho: Handover
    giving: bool
    hand: str | None = None
    passed: bool = False

    EXCHANGE_S = 1.4

    def partner(self, a: Actor) -> Actor:
        pid = self.ho.receiver if self.giving else self.ho.giver
        return next(x for x in a.sim.actors if x.p.id == pid)

    def partner_ready(self, a: Actor) -> bool:
        o = self.partner(a)
        return bool(o.active and o.tasks and isinstance(o.tasks[0], Meet) and o.tasks[0].ho is self.ho)

    def step(self, a: Actor, t: float) -> bool:
        ho = self.ho
        if ho.done:
            a.pose_wrist = {}
            a.busy_standing = False
            return True
        o = self.partner(a)
        if ho.start is None:
            if not self.partner_ready(a):
                a.settle()
                return False
            gap = float(np.linalg.norm(o.pos - a.pos))
            if gap > 0.95:
                a.walk_toward(o.pos, t, ignore=o, arrive_tol=0.9)
                return False
            if self.giving:
                units = a.units_of(ho.sku)
                if len(units) < ho.qty:
                    raise a.fail(f"hands over {ho.qty} x {ho.sku} but holds {len(units)}")
            ho.start = t
        a.settle()
        a.busy_standing = True
        e = t - ho.start
        d = o.pos - a.pos
        a.turn_to(float(np.arctan2(d[1], d[0])), 6.0)
        if self.hand is None:
            units = a.units_of(ho.sku) if self.giving else []
            self.hand = a.holding[units[0]][0] if units else "right"
        k = _smooth(e / 0.5) if e < 0.8 else 1.0 - _smooth((e - 0.8) / 0.6)
        _, left = frame(a.heading)
        mid = (a.pos + o.pos) / 2
        hand_pt = np.array([mid[0], mid[1], 1.05 * a.body.s]) + left * (0.03 if self.giving else -0.03)
        rest = rest_wrist(a.body, a.pos, a.heading, self.hand, self.hand in a.carrying())
        a.pose_wrist = {self.hand: rest + (hand_pt - rest) * k}
        if self.giving and e >= 0.65 and not self.passed:
            self.passed = True
            tx = ho.start + 0.65
            for u in a.units_of(ho.sku)[:ho.qty]:
                a.release(u, tx)
                o.hold(u, "right", tx)
            a.sim.events.append({"t": round(tx, 3), "kind": "hand_over", "person": a.p.id, "account": a.p.account,
                                 "to": o.p.id, "to_account": o.p.account, "sku": ho.sku, "qty": ho.qty})
        if e >= self.EXCHANGE_S:
            a.pose_wrist = {}
            a.busy_standing = False
            ho.done = ho.done or self.giving
            return True
        return False


@dataclass
class Leave(Task):
    goal: np.ndarray | None = None

    def step(self, a: Actor, t: float) -> bool:
        sim = a.sim
        exits = sim.store.exit_gates()
        if self.goal is None:
            cands = [sim.grid.nearest_free(g.center) for g in exits]
            lens = [sim.grid.path_length(a.pos, c) for c in cands]
            k = int(np.argmin(lens))
            if not np.isfinite(lens[k]):
                raise a.fail("no exit can be reached on foot")
            self.goal, self.gate = cands[k], exits[k]
        a.walk_toward(self.goal, t, arrive_tol=0.05)
        if self.gate.contains(a.pos):
            a.active = False
            a.gone = True
            a.exited_at = t
            for u in list(a.holding):
                hand, since = a.holding[u]
                sim.held.append(HeldItem(a.p.id, sim.unit_sku[u], hand, since, np.inf, u))
            return True
        return False


def expand(a: Actor, act: Action) -> list[Task]:
    """The tasks that carry out one scenario action."""
    store = a.sim.store
    if act.do in ("take", "put", "touch", "restock"):
        b = store.bin_by_id[act.bin]
        tasks: list[Task] = [GoToBin(b)]
        n = 1 if act.do == "touch" else act.qty
        for k in range(n):
            tasks.append(Reach(act.do, b, act.sku, dwell=(act.s or DWELL_S) if act.do == "touch" else DWELL_S,
                               not_before=act.at if k == 0 else None))
        return tasks
    if act.do == "wait":
        return [WaitFor(act.s or 0.0, act.at)]
    if act.do == "walk":
        goal = np.asarray(act.to, float)
        if not a.sim.grid.is_free(goal):
            raise a.fail(f"walks to {list(act.to)}, which is not free floor (a shelf, a wall or outside)")
        return ([WaitUntil(act.at)] if act.at else []) + [WalkTo(goal)]
    if act.do in ("hand_over", "receive"):
        ho = a.sim.handovers[(a.p.id, a.action_i)]
        return ([WaitUntil(act.at)] if act.at else []) + [Meet(ho, act.do == "hand_over")]
    if act.do == "exit":
        return ([WaitUntil(act.at)] if act.at else []) + [Leave()]
    raise a.fail(f"unknown action {act.do}")


# -- before the simulation: what can be checked from the script alone ----------------------------

def check_script(sc: Scenario, store: Store, catalog: Catalog, camera_ids: set[str]) -> dict:
    """Static checks; returns the hand-over pairs keyed by (person, action index)."""
    ids = {p.id for p in sc.people}
    accounts: dict[str, str] = {}
    for p in sc.people:
        if accounts.setdefault(p.account, p.role) != p.role:
            raise ScenarioError(f"person {p.id}: account {p.account} mixes shoppers and associates")
        for i, a in enumerate(p.actions):
            where = f"person {p.id}, action {i + 1} ({a.describe()})"
            if a.bin is not None and a.bin not in store.bin_by_id:
                raise ScenarioError(f"{where}: unknown bin {a.bin!r}")
            if a.sku is not None and a.sku not in catalog.by_sku:
                raise ScenarioError(f"{where}: unknown sku {a.sku!r}")
            if a.do == "restock" and p.role != "associate":
                raise ScenarioError(f"{where}: only associates restock")
            if a.do == "hand_over" and a.to not in ids:
                raise ScenarioError(f"{where}: unknown person {a.to!r}")
            if a.do == "receive" and a.from_ not in ids:
                raise ScenarioError(f"{where}: unknown person {a.from_!r}")
            if a.do in ("hand_over", "receive") and (a.to == p.id or a.from_ == p.id):
                raise ScenarioError(f"{where}: a person cannot hand over to themself")
            if a.do == "exit" and i != len(p.actions) - 1:
                raise ScenarioError(f"{where}: exit must be the last action")
            if a.at is not None and a.at > sc.duration_s:
                raise ScenarioError(f"{where}: 'at' {a.at} is after the recording ends ({sc.duration_s} s)")
        if p.enter_at >= sc.duration_s:
            raise ScenarioError(f"person {p.id}: enters at {p.enter_at} s, after the recording ends")
    for f in sc.faults:
        if f.camera is not None and f.camera not in camera_ids:
            raise ScenarioError(f"fault {f.kind}: unknown camera {f.camera!r} (cameras: {', '.join(sorted(camera_ids))})")
        if f.sensor is not None and f.sensor not in store.sensor_by_id:
            raise ScenarioError(f"fault {f.kind}: unknown sensor {f.sensor!r}")
    # pair the k-th hand_over from A to B with the k-th receive from A in B's list
    gives: dict[tuple[str, str], list[tuple[int, Action]]] = {}
    takes: dict[tuple[str, str], list[tuple[int, Action]]] = {}
    for p in sc.people:
        for i, a in enumerate(p.actions):
            if a.do == "hand_over":
                gives.setdefault((p.id, a.to), []).append((i, a))
            elif a.do == "receive":
                takes.setdefault((a.from_, p.id), []).append((i, a))
    pairs: dict[tuple[str, int], Handover] = {}
    for key in set(gives) | set(takes):
        g, r = gives.get(key, []), takes.get(key, [])
        for k in range(max(len(g), len(r))):
            if k >= len(r):
                i, a = g[k]
                raise ScenarioError(f"person {key[0]}, action {i + 1} ({a.describe()}): "
                                    f"{key[1]} has no matching {{do: receive, from: {key[0]}}}")
            if k >= len(g):
                i, a = r[k]
                raise ScenarioError(f"person {key[1]}, action {i + 1} ({a.describe()}): "
                                    f"{key[0]} has no matching {{do: hand_over, to: {key[1]}}}")
            (gi, ga), (ri, _) = g[k], r[k]
            ho = Handover(key[0], key[1], ga.sku, ga.qty, gi, ri)
            pairs[(key[0], gi)] = ho
            pairs[(key[1], ri)] = ho
    _check_no_deadlock(sc, pairs)
    return pairs


def _check_no_deadlock(sc: Scenario, pairs: dict[tuple[str, int], Handover]) -> None:
    """Hand-overs happen in both lists' order; a cycle of people waiting on each other is rejected."""
    pos = {p.id: 0 for p in sc.people}
    lists = {p.id: p.actions for p in sc.people}
    while True:
        progressed = False
        for pid, acts in lists.items():
            while pos[pid] < len(acts):
                i = pos[pid]
                ho = pairs.get((pid, i))
                if ho is None:
                    pos[pid] += 1
                    progressed = True
                    continue
                other, oi = (ho.receiver, ho.receiver_action) if ho.giver == pid else (ho.giver, ho.giver_action)
                if pos[other] == oi:
                    pos[pid] += 1
                    pos[other] += 1
                    progressed = True
                    continue
                break
        if all(pos[p] >= len(a) for p, a in lists.items()):
            return
        if not progressed:
            stuck = sorted(p for p in lists if pos[p] < len(lists[p]))
            p0 = stuck[0]
            a = lists[p0][pos[p0]]
            raise ScenarioError(f"person {p0}, action {pos[p0] + 1} ({a.describe()}): hand-overs wait on each other "
                                f"and can never happen ({', '.join(stuck)} are stuck)")


# -- the simulation -----------------------------------------------------------------------------

def appearance_for(p: Person, rng: np.random.Generator) -> Appearance:
    shirt = p.look.shirt or SHIRTS[int(rng.integers(len(SHIRTS)))]
    trousers = p.look.trousers or TROUSERS[int(rng.integers(len(TROUSERS)))]
    height = p.look.height_m or float(np.clip(rng.normal(1.72, 0.08), 1.52, 1.95))
    return Appearance(shirt=tuple(shirt), trousers=tuple(trousers), skin=SKINS[int(rng.integers(len(SKINS)))],
                      hair=HAIRS[int(rng.integers(len(HAIRS)))], shoes=(35, 30, 30), height_m=height)


def choreograph(sc: Scenario, store: Store, catalog: Catalog, camera_ids: set[str],
                progress: Callable[[float], None] | None = None, grace_s: float = GRACE_S) -> World:
    """Simulate the scenario; the World it returns is the recording's ground truth."""
    pairs = check_script(sc, store, catalog, camera_ids)
    sim = Sim(sc, store, catalog)
    sim.handovers = pairs
    rng = sim.rng
    # parties enter together on one scan at the earliest enter_at among them
    parties: dict[str, list[Person]] = {}
    for p in sc.people:
        parties.setdefault(p.account, []).append(p)
    entries = store.entry_gates()
    scans = []
    actors = []
    gate_free: dict[str, float] = {}
    for k, (account, members) in enumerate(sorted(parties.items(), key=lambda kv: min(m.enter_at for m in kv[1]))):
        gate = entries[k % len(entries)]
        # a gate admits one party at a time: a party that arrives while another passes waits its turn
        t_scan = max(min(m.enter_at for m in members), gate_free.get(gate.id, -np.inf))
        gate_free[gate.id] = t_scan + GATE_CYCLE_S
        scans.append({"t": round(t_scan, 3), "gate": gate.id, "kind": "entry", "account": account,
                      "party_size": len(members), "role": members[0].role})
        for m in members:
            ac = Actor(sim, m, appearance_for(m, rng), float(np.clip(rng.normal(1.2, 0.12), 0.9, 1.45)), t_scan)
            ac.gate = gate
            actors.append(ac)
    sim.actors = actors
    n_steps = int(np.floor(sc.duration_s / DT + 1e-9)) + 1
    times = np.arange(n_steps) * DT
    joints = np.full((n_steps, len(actors), 17, 3), np.nan, np.float32)
    step = 0
    t_limit = sc.duration_s + grace_s
    while True:
        t = step * DT
        sim.t = t
        for ac in actors:
            if not ac.active and not ac.gone and t >= ac.scan_t:
                spawn(sim, ac)
        for ac in actors:
            if ac.active:
                ac.step(t)
        if step < n_steps:
            for i, ac in enumerate(actors):
                if ac.active:
                    joints[step, i] = ac.pose()
        if progress and step % 30 == 0:
            progress(min(t / sc.duration_s, 1.0))
        if all(ac.gone for ac in actors) and step >= n_steps - 1:
            break
        if t > t_limit:
            break
        step += 1
    late = [ac for ac in actors if not ac.gone or ac.exited_at > sc.duration_s]
    if late:
        ac = late[0]
        where = ac.where() if not ac.gone else f"person {ac.p.id}"
        when = f"leaves at t={ac.exited_at:.1f} s" if ac.gone else "never reaches an exit"
        raise ScenarioError(f"{where}: everyone must be out by duration_s={sc.duration_s:g} but {ac.p.id} {when}; "
                            f"lengthen duration_s or shorten the actions")
    people = [PersonInfo(ac.p.id, ac.p.role, ac.p.account, ac.look, ac.scan_t, float(ac.exited_at)) for ac in actors]
    visits = receipts_of(sim, sc, scans)
    sim.events.sort(key=lambda e: e["t"])
    return World(times=times, people=people, joints=joints, held=sorted(sim.held, key=lambda h: h.t0),
                 load_changes=sorted(sim.load_changes, key=lambda c: c.t), hands_in_bins=sim.hands_in_bins,
                 initial_units=sim.initial_units, unit_weight=sim.unit_weight, unit_sku=sim.unit_sku,
                 events=sim.events, gate_scans=scans, visits=visits, duration_s=sc.duration_s)


def spawn(sim: Sim, ac: Actor) -> None:
    """Place a person inside their entry zone, clear of everyone there; wait if it is full."""
    (x0, y0), (x1, y1) = ac.gate.zone
    c = ac.gate.center
    offsets = [(0, 0), (0.35, 0.3), (-0.35, -0.3), (0.35, -0.3), (-0.35, 0.3), (0, 0.4), (0, -0.4)]
    for dx, dy in offsets:
        p = np.array([np.clip(c[0] + dx, min(x0, x1), max(x0, x1)), np.clip(c[1] + dy, min(y0, y1), max(y0, y1))])
        p = sim.grid.nearest_free(p)
        if all(np.linalg.norm(o.pos - p) >= SEPARATION + 0.1 for o in sim.present()):
            ac.pos = p
            ac.active = True
            d = np.mean(np.asarray(sim.store.floor, float), axis=0) - p
            ac.heading = float(np.arctan2(d[1], d[0]))
            return


def receipts_of(sim: Sim, sc: Scenario, scans: list[dict]) -> list[dict]:
    """Truth receipts: every unit a shopper party's people carry out, by sku."""
    party_of = {p.id: p.account for p in sc.people}
    visits = []
    for s in scans:
        if s["role"] != "shopper":
            continue
        members = [p.id for p in sc.people if p.account == s["account"]]
        counts: dict[str, int] = {}
        for h in sim.held:
            if h.t1 == np.inf and party_of[h.person] == s["account"]:
                counts[h.sku] = counts.get(h.sku, 0) + 1
        visits.append({"account": s["account"], "entered_at": s["t"], "people": members,
                       "lines": [{"sku": k, "qty": v} for k, v in sorted(counts.items())]})
    return visits
