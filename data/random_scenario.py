"""Random shopping stories with knobs (scenario.md: `--random`).

Stories are built to be possible: takes never exceed a bin's stock, puts only
return what the person holds, hand-over partners enter together, and every
person's plan is sized (walking distances on the floor grid plus reach time)
to finish well before duration_s. A candidate is then choreographed once;
if anyone would still be inside at the end, the next candidate is drawn.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from data.choreography import choreograph
from data.errors import ScenarioError
from data.navigation import FloorGrid
from data.scenario import Action, AutoCameras, Fault, Look, Person, Scenario
from data.store import Bin, Catalog, Store

WALK_MPS = 0.8  # planning speed, slower than people walk: leaves room for detours and waiting
REACH_S = 2.3
CANDIDATE_GRACE_S = 20.0


@dataclass
class Knobs:
    """What a random scenario looks like; fractions are per action or per person."""
    seed: int = 0
    store: str = "corner-store"
    duration_s: float = 60.0
    people: int = 6  # shoppers
    parties: int = 1  # how many of the shoppers' groups have 2-3 people
    associates: int = 0
    crowding: float = 0.5  # 0 entries spread over the recording .. 1 all at once
    items: tuple[int, int] = (1, 4)  # takes per shopper
    simultaneous: float = 0.1  # share of shoppers whose first reach is timed to coincide with another's
    lookalike: float = 0.25  # share of picks from look-alike families
    putback: float = 0.1  # share of shoppers who put one item back where it came from
    misplaced: float = 0.1  # share of shoppers who put one item back in the wrong bin
    handovers: int = 0  # hand-overs between shoppers
    touches: float = 0.15  # share of shoppers who touch a bin without taking
    faults: int = 0  # hardware faults drawn from the spec's kinds
    camera_width: int = 640
    camera_height: int = 480
    fps: float = 15.0
    depth: bool = True

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


class _Planner:
    def __init__(self, k: Knobs, store: Store, catalog: Catalog, camera_ids: list[str], rng: np.random.Generator):
        self.k, self.store, self.catalog, self.rng = k, store, catalog, rng
        self.cams = camera_ids
        self.grid = FloorGrid.from_store(store)
        self.left = {b.id: b.stock for b in store.bins}
        fam = catalog.families()
        self.lookalike_bins = [b for b in store.bins if len(fam[catalog.by_sku[b.sku].family]) > 1]
        self.plain_bins = [b for b in store.bins if b not in self.lookalike_bins] or list(store.bins)

    def spot(self, b: Bin) -> np.ndarray:
        centre, _, _ = self.store.opening(b)
        f = self.store.facing(b)
        return self.grid.nearest_free(centre[:2] + f * 0.4)

    def walk_s(self, a: np.ndarray, b: np.ndarray) -> float:
        d = self.grid.path_length(a, b)
        return (d if np.isfinite(d) else 30.0) / WALK_MPS

    def pick_bin(self) -> Bin | None:
        pool = self.lookalike_bins if self.lookalike_bins and self.rng.random() < self.k.lookalike else self.plain_bins
        pool = [b for b in pool if self.left[b.id] > 0] or [b for b in self.store.bins if self.left[b.id] > 0]
        if not pool:
            return None
        return pool[int(self.rng.integers(len(pool)))]

    def estimate(self, acts: list[Action], start: np.ndarray) -> float:
        """Seconds a person needs for their actions, from the entry to an exit."""
        pos, total = start, 0.0
        for a in acts:
            if a.bin:
                b = self.store.bin_by_id[a.bin]
                total += self.walk_s(pos, self.spot(b))
                pos = self.spot(b)
                total += REACH_S * (1 if a.do == "touch" else a.qty) + (a.s or 0)
            elif a.do in ("hand_over", "receive"):
                total += 8.0
            elif a.do == "wait":
                total += a.s or 0
        exits = [self.grid.nearest_free(g.center) for g in self.store.exit_gates()]
        return total + min(self.walk_s(pos, e) for e in exits) + 3.0

    def shopper_actions(self) -> tuple[list[Action], list[str]]:
        """A shopper's list: takes, maybe a touch, a put-back or a misplaced return."""
        k, rng = self.k, self.rng
        acts: list[Action] = []
        held: list[str] = []
        for _ in range(int(rng.integers(k.items[0], k.items[1] + 1))):
            b = self.pick_bin()
            if b is None:
                break
            qty = 2 if rng.random() < 0.15 and self.left[b.id] >= 2 else 1
            self.left[b.id] -= qty
            acts.append(Action("take", bin=b.id, qty=qty))
            held += [b.sku] * qty
        if rng.random() < k.touches:
            b = self.store.bins[int(rng.integers(len(self.store.bins)))]
            acts.insert(int(rng.integers(len(acts) + 1)), Action("touch", bin=b.id, s=float(rng.uniform(1.0, 2.5))))
        if held and rng.random() < k.putback:
            i = next(i for i, a in enumerate(acts) if a.do == "take")
            a = acts[i]
            acts.append(Action("put", bin=a.bin, qty=1))
            held.remove(self.store.bin_by_id[a.bin].sku)
        if held and rng.random() < k.misplaced:
            sku = held.pop(int(rng.integers(len(held))))
            others = [b for b in self.store.bins if b.sku != sku]
            b = others[int(rng.integers(len(others)))]
            acts.append(Action("put", bin=b.id, sku=sku, qty=1))
        return acts, held


def build(k: Knobs, store: Store, catalog: Catalog, camera_ids: list[str], attempt: int = 0) -> Scenario:
    """One candidate scenario (not yet checked by choreography)."""
    rng = np.random.default_rng([k.seed, attempt])
    pl = _Planner(k, store, catalog, camera_ids, rng)
    entry = store.entry_gates()[0].center
    people: list[Person] = []
    # shoppers grouped into parties
    n = max(k.people, 0)
    sizes: list[int] = []
    groups = min(k.parties, n // 2)
    for _ in range(groups):
        sizes.append(3 if rng.random() < 0.3 and n - sum(sizes) - 2 * (groups - len(sizes)) >= 3 else 2)
    sizes += [1] * (n - sum(sizes))
    rng.shuffle(sizes)
    window = max(k.duration_s * (1.0 - 0.85 * k.crowding), 1.0)
    pid = 0
    plans: list[tuple[Person, list[str]]] = []
    for g, size in enumerate(sizes):
        account = f"acct-{k.seed % 10000:04d}-{g + 1:02d}"
        members = []
        for _ in range(size):
            pid += 1
            acts, held = pl.shopper_actions()
            members.append((Person(f"p{pid}", "shopper", account, 0.0, Look(), acts), held))
        need = max(pl.estimate(m.actions, entry) for m, _ in members)
        latest = k.duration_s - need - 4.0
        if latest < 0.5:
            for m, held in members:  # too long for this recording: keep the first action only
                m.actions = m.actions[:1]
                held[:] = [store.bin_by_id[m.actions[0].bin].sku] if m.actions and m.actions[0].do == "take" else []
            need = max(pl.estimate(m.actions, entry) for m, _ in members)
            latest = k.duration_s - need - 4.0
        t_in = float(rng.uniform(0.5, max(min(window, latest), 0.6)))
        for m, held in members:
            m.enter_at = round(t_in, 2)
            people.append(m)
            plans.append((m, held))
    # simultaneous reaches: pairs present together reach into bins of one cell at the same moment
    shoppers = [p for p in people if p.actions]
    rng.shuffle(shoppers)
    n_sim = int(round(k.simultaneous * len(shoppers) / 2))
    for i in range(n_sim):
        if 2 * i + 1 >= len(shoppers):
            break
        a, b = shoppers[2 * i], shoppers[2 * i + 1]
        cells = [s.id for s in store.sensors if len(store.bins_on(s.id)) >= 2]
        if not cells:
            break
        cell = cells[int(rng.integers(len(cells)))]
        bins = [x for x in store.bins_on(cell) if pl.left[x.id] > 0]
        if len(bins) < 1:
            continue
        t0 = max(a.enter_at, b.enter_at)
        arrive = max(pl.walk_s(entry, pl.spot(x)) for x in bins)
        at = round(t0 + arrive + 2.5, 2)
        for p, x in ((a, bins[0]), (b, bins[-1] if len(bins) > 1 else bins[0])):
            if pl.left[x.id] <= 0:
                continue
            pl.left[x.id] -= 1
            p.actions.insert(0, Action("take", bin=x.id, qty=1, at=at))
            next(h for m, h in plans if m is p).append(x.sku)
    # hand-overs: the giver takes something first; partners enter together
    for _ in range(k.handovers):
        cands = [(m, h) for m, h in plans if h]
        if len(cands) < 1 or len(people) < 2:
            break
        giver, held = cands[int(rng.integers(len(cands)))]
        others = [p for p in people if p is not giver and p.role == "shopper"]
        recv = others[int(rng.integers(len(others)))]
        recv.enter_at = giver.enter_at
        for p in people:  # the receiver's party enters with them
            if p.account == recv.account:
                p.enter_at = giver.enter_at
        sku = held.pop(0)
        i = next(i for i, a in enumerate(giver.actions) if a.do == "take" and
                 (a.sku or store.bin_by_id[a.bin].sku) == sku) + 1
        giver.actions.insert(i, Action("hand_over", to=recv.id, sku=sku, qty=1))
        recv.actions.insert(min(1, len(recv.actions)), Action("receive", from_=giver.id))
    # associates restock
    for s in range(k.associates):
        acts = []
        for _ in range(int(rng.integers(1, 3))):
            b = store.bins[int(rng.integers(len(store.bins)))]
            acts.append(Action("restock", bin=b.id, qty=int(rng.integers(1, 3))))
        need = pl.estimate(acts, entry)
        t_in = float(rng.uniform(0.5, max(k.duration_s - need - 4.0, 0.6)))
        people.append(Person(f"s{s + 1}", "associate", f"staff-{s + 1:02d}", round(t_in, 2), Look(), acts))
    faults = [random_fault(rng, store, camera_ids, k.duration_s) for _ in range(k.faults)]
    cams = AutoCameras(width=k.camera_width, height=k.camera_height, fps=k.fps, depth=k.depth)
    return Scenario(seed=k.seed, duration_s=k.duration_s, store=k.store, store_is_dir=k.store.startswith(("./", "/")),
                    cameras=cams, noise_g=1.5, people=people, faults=faults, name=f"random-{k.seed}")


def random_fault(rng: np.random.Generator, store: Store, camera_ids: list[str], duration: float) -> Fault:
    kind = ["camera_blackout", "camera_offset", "sensor_spike", "sensor_drift", "sensor_dropout",
            "lighting"][int(rng.integers(6))]
    cam = camera_ids[int(rng.integers(len(camera_ids)))] if camera_ids else None
    sensor = store.sensors[int(rng.integers(len(store.sensors)))].id
    t0 = float(rng.uniform(0.1, 0.8) * duration)
    if kind == "camera_blackout":
        return Fault(kind, camera=cam, start=round(t0, 1), end=round(min(t0 + rng.uniform(3, 10), duration), 1))
    if kind == "camera_offset":
        return Fault(kind, camera=cam, s=round(float(rng.uniform(0.1, 0.8)), 2))
    if kind == "sensor_spike":
        return Fault(kind, sensor=sensor, at=round(t0, 1), grams=round(float(rng.uniform(100, 500)), 0),
                     s=round(float(rng.uniform(0.1, 0.5)), 2))
    if kind == "sensor_drift":
        return Fault(kind, sensor=sensor, g_per_min=round(float(rng.uniform(-3, 3)), 2))
    if kind == "sensor_dropout":
        return Fault(kind, sensor=sensor, start=round(t0, 1), end=round(min(t0 + rng.uniform(2, 6), duration), 1))
    return Fault(kind, start=round(t0, 1), end=round(min(t0 + rng.uniform(5, 20), duration), 1),
                 gain=round(float(rng.uniform(0.5, 1.4)), 2))


def training_world(k: Knobs, store: Store, catalog: Catalog, camera_ids: list[str], what: str, tries: int = 8):
    """A random story's World for making training data: planned for k.duration_s, simulated with
    slack (twice as long), since nobody minds who is still inside at the end there."""
    from dataclasses import replace

    last: ScenarioError | None = None
    for attempt in range(tries):
        sc = replace(build(k, store, catalog, camera_ids, attempt), duration_s=k.duration_s * 2.0)
        try:
            return choreograph(sc, store, catalog, set(camera_ids))
        except ScenarioError as e:
            last = e
    raise ScenarioError(f"{what}: no possible story for seed {k.seed}: {last}")


def random_scenario(k: Knobs, store: Store, catalog: Catalog, camera_ids: list[str], tries: int = 8) -> Scenario:
    """A random scenario that the choreography has checked can happen."""
    last: ScenarioError | None = None
    for attempt in range(tries):
        sc = build(k, store, catalog, camera_ids, attempt)
        try:
            # a candidate someone is still in at the end is dropped anyway: no need to play on for long
            choreograph(sc, store, catalog, set(camera_ids), grace_s=CANDIDATE_GRACE_S)
            return sc
        except ScenarioError as e:
            last = e
    raise ScenarioError(f"random scenario (seed {k.seed}): no possible story in {tries} tries; last: {last}. "
                        f"Try a longer --duration or fewer people")
