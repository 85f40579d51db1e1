"""Scenarios (spec/scenario.md): what happens in a store, read from YAML or JSON.

This module checks the form of a scenario. Whether it can happen in a given
store (unknown bins, empty bins, unmatched hand-overs, people still inside at
the end) is checked by `data.choreography`, which knows the store.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from data.errors import ScenarioError
from data.store import ID_RE

FORMAT = "walkout-scenario/1"
ACTIONS = {"take", "put", "touch", "hand_over", "receive", "wait", "walk", "exit", "restock"}
FAULTS = {"camera_blackout", "camera_offset", "sensor_spike", "sensor_drift", "sensor_dropout", "lighting"}


@dataclass
class Action:
    do: str
    bin: str | None = None
    qty: int = 1
    sku: str | None = None
    at: float | None = None
    s: float | None = None
    to: Any = None  # a person id (hand_over) or [x, y] (walk)
    from_: str | None = None  # receive

    def describe(self) -> str:
        parts = [self.do]
        if self.bin:
            parts.append(f"bin {self.bin}")
        if self.sku:
            parts.append(self.sku)
        if self.do in ("take", "put", "restock", "hand_over"):
            parts.append(f"qty {self.qty}")
        if self.to is not None:
            parts.append(f"to {self.to}")
        if self.from_:
            parts.append(f"from {self.from_}")
        return " ".join(parts)


@dataclass
class Look:
    shirt: tuple[int, int, int] | None = None
    trousers: tuple[int, int, int] | None = None
    height_m: float | None = None


@dataclass
class Person:
    id: str
    role: str
    account: str
    enter_at: float
    look: Look
    actions: list[Action]


@dataclass
class Fault:
    kind: str
    camera: str | None = None
    sensor: str | None = None
    start: float | None = None  # 'from'
    end: float | None = None  # 'to'
    at: float | None = None
    s: float | None = None
    grams: float | None = None
    g_per_min: float | None = None
    gain: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for key, name in (("camera", "camera"), ("sensor", "sensor"), ("from", "start"), ("to", "end"),
                          ("at", "at"), ("s", "s"), ("grams", "grams"), ("g_per_min", "g_per_min"),
                          ("gain", "gain")):
            v = getattr(self, name)
            if v is not None:
                out[key] = v
        return out


@dataclass
class AutoCameras:
    height_m: float = 3.2
    spacing_m: float = 2.5
    width: int = 640
    height: int = 480
    fps: float = 15.0
    depth: bool = True


@dataclass
class Scenario:
    seed: int
    duration_s: float
    store: str  # a preset name or a directory path (already resolved)
    store_is_dir: bool
    cameras: AutoCameras | Path
    noise_g: float
    people: list[Person]
    faults: list[Fault] = field(default_factory=list)
    name: str = "scenario"
    raw: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The scenario as a spec-conforming mapping (what `walkout scenario` writes)."""
        if isinstance(self.cameras, AutoCameras):
            cams: Any = {"auto": {"height_m": self.cameras.height_m, "spacing_m": self.cameras.spacing_m,
                                  "width": self.cameras.width, "height": self.cameras.height,
                                  "fps": self.cameras.fps, "depth": self.cameras.depth}}
        else:
            cams = str(self.cameras)
        people = []
        for p in self.people:
            look: dict[str, Any] = {}
            if p.look.shirt:
                look["shirt"] = list(p.look.shirt)
            if p.look.trousers:
                look["trousers"] = list(p.look.trousers)
            if p.look.height_m:
                look["height_m"] = p.look.height_m
            acts = []
            for a in p.actions:
                d: dict[str, Any] = {"do": a.do}
                if a.bin is not None:
                    d["bin"] = a.bin
                if a.do in ("take", "put", "restock", "hand_over", "receive") and a.qty != 1:
                    d["qty"] = a.qty
                elif a.do in ("take", "put", "restock", "hand_over"):
                    d["qty"] = a.qty
                for k in ("sku", "at", "s"):
                    if getattr(a, k) is not None:
                        d[k] = getattr(a, k)
                if a.to is not None:
                    d["to"] = a.to
                if a.from_ is not None:
                    d["from"] = a.from_
                acts.append(d)
            entry: dict[str, Any] = {"id": p.id, "role": p.role, "account": p.account, "enter_at": p.enter_at}
            if look:
                entry["look"] = look
            entry["actions"] = acts
            people.append(entry)
        return {"format": FORMAT, "seed": self.seed, "duration_s": self.duration_s,
                "store": self.store if not self.store_is_dir else str(self.store), "cameras": cams,
                "sensors": {"noise_g": self.noise_g}, "people": people,
                "faults": [f.to_json() for f in self.faults]}


def _fail(where: str, what: str) -> ScenarioError:
    return ScenarioError(f"{where}: {what}")


def _num(obj: dict, key: str, where: str, default: Any = None, *, positive: bool = False,
         nonneg: bool = False) -> Any:
    v = obj.get(key, default)
    if v is None:
        if default is None and key in obj:
            raise _fail(where, f"'{key}' must be a number")
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(where, f"'{key}' must be a number, got {v!r}")
    if positive and v <= 0:
        raise _fail(where, f"'{key}' must be > 0, got {v!r}")
    if nonneg and v < 0:
        raise _fail(where, f"'{key}' must be >= 0, got {v!r}")
    return float(v)


def _rgb(v: Any, where: str) -> tuple[int, int, int] | None:
    if v is None:
        return None
    if (not isinstance(v, (list, tuple)) or len(v) != 3
            or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 255 for x in v)):
        raise _fail(where, f"colour must be [r, g, b] with integers 0..255, got {v!r}")
    return (int(v[0]), int(v[1]), int(v[2]))


def _action(a: Any, where: str) -> Action:
    if not isinstance(a, dict) or "do" not in a:
        raise _fail(where, f"an action must be a mapping with 'do', got {a!r}")
    do = a["do"]
    if do not in ACTIONS:
        raise _fail(where, f"unknown action {do!r}; expected one of {sorted(ACTIONS)}")
    qty = a.get("qty", 1)
    if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
        raise _fail(where, f"'qty' must be an integer >= 1, got {qty!r}")
    act = Action(do=do, bin=a.get("bin"), qty=qty, sku=a.get("sku"), at=_num(a, "at", where, nonneg=True),
                 s=_num(a, "s", where, nonneg=True), to=a.get("to"), from_=a.get("from"))
    if do in ("take", "put", "touch", "restock") and not isinstance(act.bin, str):
        raise _fail(where, f"{do} needs a 'bin'")
    if act.sku is not None and not isinstance(act.sku, str):
        raise _fail(where, f"'sku' must be a string, got {act.sku!r}")
    if do == "hand_over":
        if not isinstance(act.to, str):
            raise _fail(where, "hand_over needs 'to': the receiving person's id")
        if act.sku is None:
            raise _fail(where, "hand_over needs the 'sku' handed over")
    if do == "receive" and not isinstance(act.from_, str):
        raise _fail(where, "receive needs 'from': the giving person's id")
    if do == "walk":
        to = act.to
        if (not isinstance(to, (list, tuple)) or len(to) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in to)):
            raise _fail(where, f"walk needs 'to': [x, y] in metres, got {to!r}")
        act.to = (float(to[0]), float(to[1]))
    if do in ("touch", "wait") and act.s is None:
        act.s = 2.0 if do == "touch" else 1.0
    return act


def _fault(f: Any, where: str) -> Fault:
    if not isinstance(f, dict) or f.get("kind") not in FAULTS:
        raise _fail(where, f"'kind' must be one of {sorted(FAULTS)}, got {f.get('kind') if isinstance(f, dict) else f!r}")
    kind = f["kind"]
    out = Fault(kind=kind, camera=f.get("camera"), sensor=f.get("sensor"), start=_num(f, "from", where),
                end=_num(f, "to", where), at=_num(f, "at", where), s=_num(f, "s", where, nonneg=True),
                grams=_num(f, "grams", where), g_per_min=_num(f, "g_per_min", where), gain=_num(f, "gain", where))
    need = {"camera_blackout": ("camera", "start", "end"), "camera_offset": ("camera", "s"),
            "sensor_spike": ("sensor", "at", "grams"), "sensor_drift": ("sensor", "g_per_min"),
            "sensor_dropout": ("sensor", "start", "end"), "lighting": ("start", "end", "gain")}[kind]
    names = {"start": "from", "end": "to"}
    for n in need:
        if getattr(out, n) is None:
            raise _fail(where, f"{kind} needs '{names.get(n, n)}'")
    if out.start is not None and out.end is not None and out.end <= out.start:
        raise _fail(where, f"'to' ({out.end}) must be after 'from' ({out.start})")
    if kind == "sensor_spike" and out.s is None:
        out.s = 0.3
    if kind == "lighting" and out.gain is not None and out.gain <= 0:
        raise _fail(where, f"'gain' must be > 0, got {out.gain}")
    return out


def parse_scenario(obj: Any, base_dir: Path, name: str = "scenario") -> Scenario:
    """Check a scenario mapping's form; paths are resolved against base_dir."""
    if not isinstance(obj, dict):
        raise _fail(name, "a scenario must be a mapping at the top level")
    fmt = obj.get("format")
    if fmt != FORMAT:
        raise _fail(name, f"'format' must be {FORMAT!r}, got {fmt!r}")
    seed = obj.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise _fail(name, f"'seed' must be an integer, got {seed!r}")
    duration = _num(obj, "duration_s", name, positive=True)
    if duration is None:
        raise _fail(name, "'duration_s' is required")
    store = obj.get("store", "corner-store")
    if not isinstance(store, str) or not store:
        raise _fail(name, f"'store' must be a preset name or a directory, got {store!r}")
    is_dir = store.startswith(("./", "../", "/"))
    if is_dir:
        store = str((base_dir / store).resolve())
    cams_raw = obj.get("cameras", {"auto": {}})
    cameras: AutoCameras | Path
    if isinstance(cams_raw, str):
        cameras = (base_dir / cams_raw).resolve()
    elif isinstance(cams_raw, dict) and isinstance(cams_raw.get("auto", {}), dict):
        a = cams_raw.get("auto") or {}
        where = f"{name}: cameras.auto"
        w, h = a.get("width", 640), a.get("height", 480)
        if not (isinstance(w, int) and isinstance(h, int) and 16 <= w <= 4096 and 16 <= h <= 4096 and w % 2 == 0
                and h % 2 == 0):
            raise _fail(where, f"'width' and 'height' must be even integers from 16 to 4096, got {w!r}, {h!r}")
        cameras = AutoCameras(height_m=_num(a, "height_m", where, 3.2, positive=True),
                              spacing_m=_num(a, "spacing_m", where, 2.5, positive=True), width=w, height=h,
                              fps=_num(a, "fps", where, 15.0, positive=True), depth=bool(a.get("depth", True)))
    else:
        raise _fail(name, f"'cameras' must be a path to a cameras.json or {{auto: {{...}}}}, got {cams_raw!r}")
    sensors = obj.get("sensors") or {}
    if not isinstance(sensors, dict):
        raise _fail(name, "'sensors' must be a mapping")
    noise = _num(sensors, "noise_g", f"{name}: sensors", 1.5, nonneg=True)
    people_raw = obj.get("people") or []
    if not isinstance(people_raw, list):
        raise _fail(name, "'people' must be a list")
    people: list[Person] = []
    seen: set[str] = set()
    for i, p in enumerate(people_raw):
        if not isinstance(p, dict):
            raise _fail(f"people[{i}]", "must be a mapping")
        pid = p.get("id")
        if not isinstance(pid, str) or not ID_RE.match(pid):
            raise _fail(f"people[{i}]", f"'id' must be an id of [A-Za-z0-9._-], got {pid!r}")
        where = f"person {pid}"
        if pid in seen:
            raise _fail(where, "duplicate person id")
        seen.add(pid)
        role = p.get("role", "shopper")
        if role not in ("shopper", "associate"):
            raise _fail(where, f"'role' must be 'shopper' or 'associate', got {role!r}")
        account = p.get("account")
        if not isinstance(account, str) or not ID_RE.match(account):
            raise _fail(where, f"'account' must be an id of [A-Za-z0-9._-], got {account!r}")
        enter_at = _num(p, "enter_at", where, 0.0, nonneg=True)
        look_raw = p.get("look") or {}
        if not isinstance(look_raw, dict):
            raise _fail(where, "'look' must be a mapping")
        height = _num(look_raw, "height_m", f"{where}: look", None)
        if height is not None and not 1.2 <= height <= 2.2:
            raise _fail(f"{where}: look", f"'height_m' must be between 1.2 and 2.2, got {height}")
        look = Look(_rgb(look_raw.get("shirt"), f"{where}: look.shirt"),
                    _rgb(look_raw.get("trousers"), f"{where}: look.trousers"), height)
        acts_raw = p.get("actions") or []
        if not isinstance(acts_raw, list):
            raise _fail(where, "'actions' must be a list")
        actions = [_action(a, f"{where}, action {k + 1}") for k, a in enumerate(acts_raw)]
        people.append(Person(pid, role, account, enter_at, look, actions))
    faults_raw = obj.get("faults") or []
    if not isinstance(faults_raw, list):
        raise _fail(name, "'faults' must be a list")
    faults = [_fault(f, f"{name}: faults[{i}]") for i, f in enumerate(faults_raw)]
    return Scenario(seed=seed, duration_s=duration, store=store, store_is_dir=is_dir, cameras=cameras,
                    noise_g=noise, people=people, faults=faults, name=name, raw=obj)


def read_scenario(path: Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{path}: cannot read ({e})") from None
    try:
        obj = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ScenarioError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({e})".replace("\n", " ")) from None
    return parse_scenario(obj, path.parent, path.name)
