"""The store's layout and catalog (recording.md: store.json, catalog/catalog.json).

Dataclasses with readers that validate and writers that emit exactly the
spec's fields. Readers raise RecordingError naming the file and the field.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data.errors import RecordingError

ID_RE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True)
class Gate:
    id: str
    kind: str  # "entry" | "exit"
    zone: tuple[tuple[float, float], tuple[float, float]]  # [[x0, y0], [x1, y1]]

    @property
    def center(self) -> np.ndarray:
        (x0, y0), (x1, y1) = self.zone
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])

    def contains(self, xy: np.ndarray, margin: float = 0.0) -> bool:
        (x0, y0), (x1, y1) = self.zone
        return (min(x0, x1) - margin <= xy[0] <= max(x0, x1) + margin
                and min(y0, y1) - margin <= xy[1] <= max(y0, y1) + margin)


@dataclass(frozen=True)
class Shelf:
    id: str
    min: tuple[float, float, float]
    max: tuple[float, float, float]
    facing: tuple[float, float]


@dataclass(frozen=True)
class Sensor:
    id: str
    kind: str
    rate_hz: float


@dataclass(frozen=True)
class Bin:
    id: str
    shelf: str
    min: tuple[float, float, float]
    max: tuple[float, float, float]
    sensor: str
    sku: str
    stock: int


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    price_cents: int
    weight_g: float
    weight_sd_g: float
    family: str
    images: tuple[str, ...]  # relative to catalog/


@dataclass
class Store:
    floor: list[tuple[float, float]]
    gates: list[Gate]
    shelves: list[Shelf]
    sensors: list[Sensor]
    bins: list[Bin]
    extra: dict[str, Any] = field(default_factory=dict)  # unknown fields, kept on write

    def __post_init__(self) -> None:
        self.shelf_by_id = {s.id: s for s in self.shelves}
        self.sensor_by_id = {s.id: s for s in self.sensors}
        self.bin_by_id = {b.id: b for b in self.bins}

    # -- geometry -----------------------------------------------------------------
    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the floor polygon."""
        p = np.asarray(self.floor, float)
        return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())

    def facing(self, bin_: Bin) -> np.ndarray:
        """Unit floor vector from the bin's shelf toward the aisle."""
        f = np.asarray(self.shelf_by_id[bin_.shelf].facing, float)
        return f / (np.linalg.norm(f) or 1.0)

    def opening(self, bin_: Bin) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The bin's opening as (centre, half-width vector along the shelf, half-height vector).

        The opening is the bin box's face on the shelf's facing side.
        """
        lo, hi = np.asarray(bin_.min, float), np.asarray(bin_.max, float)
        f = self.facing(bin_)
        centre = (lo + hi) / 2
        axis = int(np.argmax(np.abs(f)))
        centre[axis] = hi[axis] if f[axis] > 0 else lo[axis]
        along = np.zeros(3)
        other = 1 - axis
        along[other] = (hi[other] - lo[other]) / 2
        up = np.array([0.0, 0.0, (hi[2] - lo[2]) / 2])
        return centre, along, up

    def bins_on(self, sensor_id: str) -> list[Bin]:
        return [b for b in self.bins if b.sensor == sensor_id]

    def entry_gates(self) -> list[Gate]:
        return [g for g in self.gates if g.kind == "entry"]

    def exit_gates(self) -> list[Gate]:
        return [g for g in self.gates if g.kind == "exit"]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.extra,
            "floor": {"polygon": [list(p) for p in self.floor]},
            "gates": [{"id": g.id, "kind": g.kind, "zone": [list(g.zone[0]), list(g.zone[1])]} for g in self.gates],
            "shelves": [{"id": s.id, "min": list(s.min), "max": list(s.max), "facing": list(s.facing)}
                        for s in self.shelves],
            "sensors": [{"id": s.id, "kind": s.kind, "rate_hz": s.rate_hz} for s in self.sensors],
            "bins": [{"id": b.id, "shelf": b.shelf, "min": list(b.min), "max": list(b.max), "sensor": b.sensor,
                      "sku": b.sku, "stock": b.stock} for b in self.bins],
        }


@dataclass
class Catalog:
    products: list[Product]
    root: Path  # the catalog/ directory; image paths are relative to it

    def __post_init__(self) -> None:
        self.by_sku = {p.sku: p for p in self.products}

    def families(self) -> dict[str, list[Product]]:
        out: dict[str, list[Product]] = {}
        for p in self.products:
            out.setdefault(p.family, []).append(p)
        return out

    def image_path(self, sku: str, i: int = 0) -> Path:
        return self.root / self.by_sku[sku].images[i]

    def to_json(self) -> dict[str, Any]:
        return {"products": [{"sku": p.sku, "name": p.name, "price_cents": p.price_cents, "weight_g": p.weight_g,
                              "weight_sd_g": p.weight_sd_g, "family": p.family, "images": list(p.images)}
                             for p in self.products]}


# -- reading and validating ----------------------------------------------------------

class _Reader:
    """Field access that raises RecordingError naming file and field."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, where: str, what: str) -> RecordingError:
        return RecordingError(f"{self.file}: {where}: {what}")

    def get(self, obj: Any, key: str, where: str) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            raise self.fail(where, f"missing field '{key}'")
        return obj[key]

    def number(self, obj: Any, key: str, where: str, *, positive: bool = False, default: Any = None) -> float:
        v = obj.get(key, default) if isinstance(obj, dict) else None
        if v is None and default is None:
            raise self.fail(where, f"missing field '{key}'")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            raise self.fail(where, f"'{key}' must be a number, got {v!r}")
        if positive and v <= 0:
            raise self.fail(where, f"'{key}' must be > 0, got {v!r}")
        return float(v)

    def ident(self, obj: Any, key: str, where: str) -> str:
        v = self.get(obj, key, where)
        if not isinstance(v, str) or not ID_RE.match(v):
            raise self.fail(where, f"'{key}' must be an id of [A-Za-z0-9._-], got {v!r}")
        return v

    def vec(self, obj: Any, key: str, where: str, n: int) -> tuple[float, ...]:
        v = self.get(obj, key, where)
        if not isinstance(v, (list, tuple)) or len(v) != n or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            raise self.fail(where, f"'{key}' must be a list of {n} numbers, got {v!r}")
        return tuple(float(x) for x in v)

    def box(self, obj: Any, where: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
        lo, hi = self.vec(obj, "min", where, 3), self.vec(obj, "max", where, 3)
        if not all(a < b for a, b in zip(lo, hi)):
            raise self.fail(where, f"min {list(lo)} must be below max {list(hi)} on every axis")
        return lo, hi


def load_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RecordingError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RecordingError(f"{path}: not valid JSON ({e})") from None


def parse_catalog(obj: Any, root: Path, file: str = "catalog/catalog.json", check_images: bool = True) -> Catalog:
    r = _Reader(file)
    items = r.get(obj, "products", "top level")
    if not isinstance(items, list) or not items:
        raise r.fail("products", "must be a non-empty list")
    products = []
    seen: set[str] = set()
    for i, p in enumerate(items):
        where = f"products[{i}]"
        sku = r.ident(p, "sku", where)
        where = f"product {sku}"
        if sku in seen:
            raise r.fail(where, "duplicate sku")
        seen.add(sku)
        price = r.get(p, "price_cents", where)
        if isinstance(price, bool) or not isinstance(price, int) or price < 0:
            raise r.fail(where, f"'price_cents' must be an integer >= 0, got {price!r}")
        images = p.get("images") or []
        if not isinstance(images, list) or not images or not all(isinstance(x, str) for x in images):
            raise r.fail(where, "'images' must list at least one image path")
        if check_images:
            for im in images:
                if not (root / im).is_file():
                    raise r.fail(where, f"image {im} not found under {root}")
        products.append(Product(
            sku=sku, name=str(p.get("name", sku)), price_cents=price,
            weight_g=r.number(p, "weight_g", where, positive=True),
            weight_sd_g=r.number(p, "weight_sd_g", where, default=0.0),
            family=str(p.get("family") or sku), images=tuple(images)))
    return Catalog(products, root)


def parse_store(obj: Any, skus: set[str], file: str = "store.json") -> Store:
    r = _Reader(file)
    poly = r.get(r.get(obj, "floor", "top level"), "polygon", "floor")
    if not isinstance(poly, list) or len(poly) < 3:
        raise r.fail("floor.polygon", "needs at least 3 [x, y] points")
    floor = [tuple(float(c) for c in r.vec({"p": p}, "p", f"floor.polygon[{i}]", 2)) for i, p in enumerate(poly)]
    gates = []
    for i, g in enumerate(r.get(obj, "gates", "top level")):
        gid = r.ident(g, "id", f"gates[{i}]")
        kind = r.get(g, "kind", f"gate {gid}")
        if kind not in ("entry", "exit"):
            raise r.fail(f"gate {gid}", f"'kind' must be 'entry' or 'exit', got {kind!r}")
        zone = r.get(g, "zone", f"gate {gid}")
        try:
            (x0, y0), (x1, y1) = zone
            zone_t = ((float(x0), float(y0)), (float(x1), float(y1)))
        except (TypeError, ValueError):
            raise r.fail(f"gate {gid}", f"'zone' must be [[x0, y0], [x1, y1]], got {zone!r}") from None
        gates.append(Gate(gid, kind, zone_t))
    kinds = {g.kind for g in gates}
    if not {"entry", "exit"} <= kinds:
        raise r.fail("gates", "needs at least one entry and one exit gate")
    shelves = []
    for i, s in enumerate(r.get(obj, "shelves", "top level")):
        sid = r.ident(s, "id", f"shelves[{i}]")
        lo, hi = r.box(s, f"shelf {sid}")
        facing = r.vec(s, "facing", f"shelf {sid}", 2)
        if np.linalg.norm(facing) < 1e-6:
            raise r.fail(f"shelf {sid}", "'facing' must be a non-zero floor vector")
        shelves.append(Shelf(sid, lo, hi, facing))  # type: ignore[arg-type]
    shelf_ids = {s.id for s in shelves}
    sensors = []
    for i, s in enumerate(r.get(obj, "sensors", "top level")):
        cid = r.ident(s, "id", f"sensors[{i}]")
        sensors.append(Sensor(cid, str(s.get("kind", "load_cell")), r.number(s, "rate_hz", f"sensor {cid}", positive=True)))
    sensor_ids = {s.id for s in sensors}
    bins = []
    seen: set[str] = set()
    for i, b in enumerate(r.get(obj, "bins", "top level")):
        bid = r.ident(b, "id", f"bins[{i}]")
        where = f"bin {bid}"
        if bid in seen:
            raise r.fail(where, "duplicate id")
        seen.add(bid)
        lo, hi = r.box(b, where)
        shelf, sensor, sku = r.get(b, "shelf", where), r.get(b, "sensor", where), r.get(b, "sku", where)
        if shelf not in shelf_ids:
            raise r.fail(where, f"unknown shelf {shelf!r}")
        if sensor not in sensor_ids:
            raise r.fail(where, f"unknown sensor {sensor!r}")
        if sku not in skus:
            raise r.fail(where, f"sku {sku!r} is not in the catalog")
        stock = r.get(b, "stock", where)
        if isinstance(stock, bool) or not isinstance(stock, int) or stock < 0:
            raise r.fail(where, f"'stock' must be an integer >= 0, got {stock!r}")
        bins.append(Bin(bid, shelf, lo, hi, sensor, sku, stock))  # type: ignore[arg-type]
    if not bins:
        raise r.fail("bins", "the store has no bins")
    known = {"floor", "gates", "shelves", "sensors", "bins"}
    return Store(floor, gates, shelves, sensors, bins, {k: v for k, v in obj.items() if k not in known})


def read_store_dir(path: Path, check_images: bool = True) -> tuple[Store, Catalog]:
    """Read store.json and catalog/ from a recording or a store directory."""
    path = Path(path)
    cat_root = path / "catalog"
    catalog = parse_catalog(load_json(cat_root / "catalog.json"), cat_root, str(cat_root / "catalog.json"),
                            check_images)
    store = parse_store(load_json(path / "store.json"), set(catalog.by_sku), str(path / "store.json"))
    return store, catalog
