"""Built-in stores (`store: corner-store` in a scenario): layout, load cells and catalog.

A preset is a small plan (floor, gates, shelves and how many bins each
level holds) expanded into a spec-conforming store.json and catalog/, so the
simulator, the tests and a user's own store directory all go through the same
reader. Everything derives from the plan's seed: the same name always writes
the same bytes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data.catalog_images import PATTERNS, ProductLook, write_product_images
from data.errors import ScenarioError
from data.store import Bin, Catalog, Gate, Product, Sensor, Shelf, Store

PRESETS = ("corner-store", "go-store")

SHELF_HEIGHT = 1.9
LEVELS = ((0.45, 0.75), (0.95, 1.25), (1.45, 1.75))  # bin z ranges, bottom level first: all within a standing reach
BIN_WIDTH = 0.36
LOAD_CELL_HZ = 30.0


# -- plans ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ShelfPlan:
    """A gondola face: its floor rectangle, the aisle side and bins per level."""
    id: str
    x0: float
    y0: float
    x1: float
    y1: float
    facing: tuple[float, float]
    per_level: int


@dataclass(frozen=True)
class PresetPlan:
    name: str
    floor: tuple[tuple[float, float], ...]
    gates: tuple[Gate, ...]
    shelves: tuple[ShelfPlan, ...]
    families: tuple[int, ...]  # sizes of the look-alike families
    shared_families: int  # the first this many families sit together on one load cell
    mixed_cells: int  # load cells shared by two unrelated products of clearly different weight
    seed: int


def _gate(gid: str, kind: str, x0: float, y0: float) -> Gate:
    return Gate(gid, kind, ((x0, y0), (x0 + 1.0, y0 + 1.0)))


def _corner_store() -> PresetPlan:
    # 10 x 6 m: wall shelves on the north and south walls, one double-sided island
    # between them; aisles 2.1 m wide; entry west, exit east.
    return PresetPlan(
        name="corner-store",
        floor=((0.0, 0.0), (10.0, 0.0), (10.0, 6.0), (0.0, 6.0)),
        gates=(_gate("in-1", "entry", 0.1, 2.5), _gate("out-1", "exit", 8.9, 2.5)),
        shelves=(ShelfPlan("S1", 2.6, 5.55, 7.4, 6.0, (0.0, -1.0), 5),
                 ShelfPlan("S2", 3.0, 3.0, 7.0, 3.45, (0.0, 1.0), 4),
                 ShelfPlan("S3", 3.0, 2.55, 7.0, 3.0, (0.0, -1.0), 4),
                 ShelfPlan("S4", 2.6, 0.0, 7.4, 0.45, (0.0, 1.0), 5)),
        families=(3, 3, 2, 2, 3),
        shared_families=3,
        mixed_cells=3,
        seed=11)


def _go_store() -> PresetPlan:
    # 17 x 10 m: four double-sided islands running north-south with 2.5 m aisles,
    # wall shelves west, east and north, a 1.75 m cross aisle at the back and the
    # gates in the open front strip (y < 2.9).
    shelves = [ShelfPlan("S1", 0.0, 3.0, 0.45, 7.8, (1.0, 0.0), 5)]
    for k in range(4):
        x = round(2.95 + 3.4 * k, 4)
        shelves.append(ShelfPlan(f"S{2 + 2 * k}", x, 3.0, round(x + 0.45, 4), 7.8, (-1.0, 0.0), 5))
        shelves.append(ShelfPlan(f"S{3 + 2 * k}", round(x + 0.45, 4), 3.0, round(x + 0.9, 4), 7.8, (1.0, 0.0), 5))
    shelves.append(ShelfPlan("S10", 16.55, 3.0, 17.0, 7.8, (-1.0, 0.0), 5))
    shelves.append(ShelfPlan("S11", 3.0, 9.55, 14.0, 10.0, (0.0, -1.0), 11))
    return PresetPlan(
        name="go-store",
        floor=((0.0, 0.0), (17.0, 0.0), (17.0, 10.0), (0.0, 10.0)),
        gates=(_gate("in-1", "entry", 1.5, 0.1), _gate("in-2", "entry", 4.0, 0.1),
               _gate("out-1", "exit", 12.0, 0.1), _gate("out-2", "exit", 14.5, 0.1)),
        shelves=tuple(shelves),
        families=(3, 3, 3, 2, 2, 2, 3, 2, 2, 3, 2, 2),
        shared_families=7,
        mixed_cells=8,
        seed=23)


_PLANS = {"corner-store": _corner_store, "go-store": _go_store}


def preset_plan(name: str) -> PresetPlan:
    if name not in _PLANS:
        raise ScenarioError(f"unknown store preset {name!r}; the presets are: {', '.join(PRESETS)}")
    return _PLANS[name]()


# -- the catalog ---------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    key: str
    noun: str
    shape: str
    size: str
    weight_g: tuple[float, float]
    price_cents: tuple[int, int]
    flavours: tuple[str, ...]


KINDS = (
    Kind("cola", "Cola", "can", "330 ml", (345, 360), (99, 179), ("Classic", "Cherry", "Zero", "Lime", "Vanilla")),
    Kind("soda", "Soda", "can", "250 ml", (262, 272), (89, 149), ("Orange", "Lemon", "Lime", "Berry", "Peach")),
    Kind("soup", "Soup", "can", "400 g", (450, 470), (149, 279), ("Tomato", "Chicken", "Mushroom", "Spicy")),
    Kind("water", "Water", "bottle", "500 ml", (518, 530), (79, 149), ("Still", "Sparkling", "Lemon", "Berry")),
    Kind("shampoo", "Shampoo", "bottle", "250 ml", (272, 288), (299, 599), ("Fresh", "Coconut", "Herbal", "Apple")),
    Kind("oil", "Olive Oil", "bottle", "750 ml", (1120, 1180), (599, 1199), ("Classic", "Herbal", "Spicy")),
    Kind("juice", "Juice", "carton", "1 l", (1040, 1075), (199, 399), ("Orange", "Apple", "Mango", "Strawberry")),
    Kind("milk", "Milk", "carton", "1 l", (1030, 1045), (109, 189), ("Whole", "Light", "Almond", "Cocoa")),
    Kind("chips", "Chips", "bag", "150 g", (158, 168), (199, 349), ("Salted", "Paprika", "Sour Cream", "BBQ")),
    Kind("nuts", "Nuts", "bag", "200 g", (208, 215), (299, 549), ("Salted", "Honey", "Spicy", "Plain")),
    Kind("pretzels", "Pretzels", "bag", "75 g", (79, 84), (99, 179), ("Salted", "Honey", "Classic")),
    Kind("cereal", "Cereal", "box", "375 g", (400, 430), (349, 549), ("Honey", "Cocoa", "Berry", "Plain")),
    Kind("pasta", "Pasta", "box", "500 g", (512, 522), (129, 279), ("Plain", "Whole", "Spicy", "Tomato")),
    Kind("cookies", "Cookies", "box", "300 g", (318, 330), (199, 379), ("Cocoa", "Vanilla", "Hazelnut", "Strawberry")),
    Kind("tea", "Tea", "box", "40 g", (58, 66), (249, 449), ("Black", "Green", "Earl Grey", "Mint", "Peach")),
    Kind("choc", "Chocolate", "bar", "100 g", (104, 108), (129, 249), ("Milk", "Dark", "Hazelnut", "Mint", "Coconut")),
    Kind("gum", "Gum", "bar", "30 g", (31, 35), (99, 159), ("Mint", "Fresh", "Berry", "Strawberry")),
    Kind("yogurt", "Yogurt", "cup", "150 g", (156, 164), (69, 129), ("Plain", "Strawberry", "Peach", "Berry", "Mango")),
    Kind("noodles", "Noodles", "cup", "65 g", (80, 88), (129, 229), ("Chicken", "Spicy", "Mushroom", "Tomato")),
    Kind("coffee", "Coffee", "jar", "200 g", (410, 440), (599, 999), ("Espresso", "Decaf", "Classic", "Hazelnut")),
    Kind("jam", "Jam", "jar", "340 g", (540, 560), (249, 449), ("Strawberry", "Berry", "Peach", "Apple")),
    Kind("toothpaste", "Toothpaste", "tube", "75 ml", (104, 112), (199, 349), ("Mint", "Fresh", "Whitening", "Herbal")),
)

FLAVOUR_RGB: dict[str, tuple[int, int, int]] = {
    "Classic": (200, 30, 40), "Cherry": (125, 15, 55), "Zero": (30, 30, 30), "Lime": (110, 200, 50),
    "Vanilla": (240, 225, 170), "Orange": (245, 140, 30), "Lemon": (245, 220, 50), "Berry": (110, 50, 160),
    "Peach": (250, 175, 130), "Tomato": (205, 45, 30), "Chicken": (240, 195, 90), "Mushroom": (140, 110, 85),
    "Spicy": (235, 60, 10), "Still": (60, 120, 220), "Sparkling": (150, 210, 240), "Fresh": (40, 170, 230),
    "Coconut": (245, 245, 235), "Herbal": (90, 150, 70), "Apple": (150, 210, 70), "Mango": (250, 195, 40),
    "Strawberry": (230, 60, 110), "Whole": (40, 80, 190), "Light": (140, 195, 245), "Almond": (205, 165, 115),
    "Cocoa": (105, 65, 40), "Salted": (50, 105, 205), "Paprika": (215, 85, 25), "Sour Cream": (150, 205, 100),
    "BBQ": (110, 35, 25), "Honey": (235, 170, 35), "Plain": (225, 225, 215), "Hazelnut": (165, 105, 55),
    "Black": (35, 35, 35), "Green": (60, 150, 70), "Earl Grey": (95, 85, 160), "Mint": (70, 200, 175),
    "Milk": (150, 95, 55), "Dark": (60, 35, 25), "Whitening": (205, 225, 245), "Espresso": (55, 30, 20),
    "Decaf": (170, 55, 60),
}

BRANDS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("Fizz", (20, 40, 120)), ("Moka", (235, 235, 235)), ("Sunny", (250, 200, 0)), ("Alpina", (0, 90, 60)),
    ("Norda", (15, 15, 15)), ("Zesto", (200, 0, 0)), ("Krisp", (255, 120, 0)), ("Bolt", (60, 60, 60)),
    ("Luna", (60, 40, 120)), ("Pura", (250, 250, 250)), ("Okko", (0, 140, 190)), ("Terra", (120, 80, 40)),
    ("Nimbo", (150, 200, 230)), ("Glow", (230, 0, 120)), ("Maple", (160, 30, 20)), ("Rivo", (0, 110, 200)),
    ("Kasa", (110, 110, 110)), ("Brio", (255, 210, 0)), ("Delta", (0, 70, 140)), ("Orbit", (100, 0, 100)),
    ("Pixi", (255, 150, 200)), ("Sole", (255, 170, 0)), ("Tumi", (0, 150, 100)), ("Viva", (220, 30, 60)),
    ("Yuko", (30, 160, 160)), ("Zen", (200, 200, 180)), ("Nova", (0, 0, 90)), ("Farm", (60, 130, 30)),
    ("Polar", (180, 220, 250)), ("Ruby", (150, 0, 30)),
)


@dataclass(frozen=True)
class _Line:
    """One product line: a kind from one brand, in one or more flavours (siblings)."""
    kind: Kind
    brand: str
    brand_rgb: tuple[int, int, int]
    pattern: str
    flavours: tuple[str, ...]
    weight_g: float
    weight_sd_g: float
    price_cents: int


def _distinct_flavours(kind: Kind, n: int, rng: np.random.Generator) -> tuple[str, ...]:
    """n flavours of kind whose colours are far apart, so siblings look different."""
    order = [kind.flavours[i] for i in rng.permutation(len(kind.flavours))]
    chosen: list[str] = []
    for f in order:
        if all(np.linalg.norm(np.subtract(FLAVOUR_RGB[f], FLAVOUR_RGB[g])) > 110 for g in chosen):
            chosen.append(f)
        if len(chosen) == n:
            return tuple(chosen)
    raise AssertionError(f"kind {kind.key} has no {n} distinct-looking flavours")


def _lines(plan: PresetPlan, n_products: int, rng: np.random.Generator) -> list[_Line]:
    """Product lines: the plan's families first, then single-flavour lines up to n_products."""
    sizes = list(plan.families) + [1] * (n_products - sum(plan.families))
    combos = [(k, b) for k in range(len(KINDS)) for b in range(len(BRANDS))]
    picks = rng.permutation(len(combos))[:len(sizes)]
    if len(picks) < len(sizes):
        raise AssertionError("not enough brand x kind combinations for this preset")
    lines = []
    for size, pick in zip(sizes, picks):
        k, b = combos[pick]
        kind = KINDS[k]
        lo, hi = kind.weight_g
        weight = round(float(rng.uniform(lo, hi)) * 2) / 2
        plo, phi = kind.price_cents
        price = int(rng.integers(plo // 10, phi // 10 + 1)) * 10 + 9
        lines.append(_Line(kind, BRANDS[b][0], BRANDS[b][1], PATTERNS[int(rng.integers(len(PATTERNS)))],
                           _distinct_flavours(kind, size, rng), weight,
                           round(weight * float(rng.uniform(0.006, 0.012)), 1), price))
    return lines


def _slug(text: str) -> str:
    return "-".join(text.lower().replace(".", "").split())


# -- the layout ----------------------------------------------------------------------

@dataclass
class PresetBuild:
    """A preset in memory: what write_preset writes, plus how each product looks."""
    store: Store
    products: list[Product]
    looks: dict[str, ProductLook]


def _groups(plan: PresetPlan, skus: list[list[str]], weights: dict[str, float],
            rng: np.random.Generator) -> list[tuple[str, list[str]]]:
    """Bins that go side by side, in shelving order: ("cell", skus) share one load cell, ("own", skus) get one each.

    skus holds each product line's skus (siblings together), families first.
    """
    fam = [s for s in skus if len(s) > 1]
    singles = [s[0] for s in skus if len(s) == 1]
    multi: list[tuple[str, list[str]]] = [("cell", s) for s in fam[:plan.shared_families]]
    multi += [("own", s) for s in fam[plan.shared_families:]]
    pool = list(singles)
    for _ in range(plan.mixed_cells):  # unrelated neighbours on one plate, told apart by weight
        a = pool.pop(0)
        j = next(i for i, b in enumerate(pool) if abs(weights[a] - weights[b]) > 0.25 * min(weights[a], weights[b]))
        multi.append(("cell", [a, pool.pop(j)]))
    multi = [multi[i] for i in rng.permutation(len(multi))]
    rest: list[tuple[str, list[str]]] = [("own", [s]) for s in pool]
    rest = [rest[i] for i in rng.permutation(len(rest))]
    # spread the multi-bin groups over the first 80 % of the queue so that they land whole
    queue: list[tuple[str, list[str]]] = []
    span = max(1, int(0.8 * (len(multi) + len(rest))))
    slots = {int(i * span / len(multi)) for i in range(len(multi))} if multi else set()
    mi = iter(multi)
    ri = iter(rest)
    for pos in range(len(multi) + len(rest)):
        nxt = next(mi, None) if pos in slots else None
        queue.append(nxt if nxt is not None else next(ri, None) or next(mi))
    return queue


def build_preset(name: str) -> PresetBuild:
    """Expand a preset plan into a Store, its products and their looks (nothing written)."""
    plan = preset_plan(name)
    rng = np.random.default_rng(plan.seed)
    rows = [(s, lv) for s in plan.shelves for lv in range(len(LEVELS))]
    n_bins = sum(s.per_level for s, _ in rows)
    lines = _lines(plan, n_bins, rng)
    products: list[Product] = []
    looks: dict[str, ProductLook] = {}
    skus: list[list[str]] = []
    for line in lines:
        family = f"{_slug(line.brand)}-{line.kind.key}-{_slug(line.kind.size)}"
        mine = []
        for flavour in line.flavours:
            sku = f"sku-{len(products) + 1:04d}"
            mine.append(sku)
            looks[sku] = ProductLook(sku, line.brand, flavour, line.kind.shape, line.brand_rgb, FLAVOUR_RGB[flavour],
                                     line.pattern, line.kind.size)
            products.append(Product(sku, f"{line.brand} {line.kind.noun} {flavour} {line.kind.size}",
                                    line.price_cents, line.weight_g, line.weight_sd_g, family,
                                    (f"images/{sku}/front.png", f"images/{sku}/side.png")))
        skus.append(mine)
    weights = {p.sku: p.weight_g for p in products}
    queue = _groups(plan, skus, weights, rng)

    # fill each shelf level left to right (as a shopper facing it sees it), first fit
    placed: list[tuple[ShelfPlan, int, list[tuple[str, str]]]] = []  # (shelf, level, [(sku, cell tag)])
    cell_no = 0
    for shelf, lv in rows:
        row: list[tuple[str, str]] = []
        while len(row) < shelf.per_level:
            free = shelf.per_level - len(row)
            k = next((i for i, (_, s) in enumerate(queue) if len(s) <= free), None)
            if k is None:  # only groups too big for the gap: break the first one up
                k = next(i for i, (_, s) in enumerate(queue) if len(s) > 1)
                _, s = queue.pop(k)
                queue[k:k] = [("own", [x]) for x in s]
                continue
            mode, s = queue.pop(k)
            for x in s:
                if mode == "own" or x == s[0]:
                    cell_no += 1
                row.append((x, f"c{cell_no}"))
        placed.append((shelf, lv, row))
    assert not queue, "every product gets exactly one bin"

    width = max(2, len(str(cell_no)))
    cell_ids = {f"c{i}": f"lc-{i:0{width}d}" for i in range(1, cell_no + 1)}
    sensors = [Sensor(cell_ids[f"c{i}"], "load_cell", LOAD_CELL_HZ) for i in range(1, cell_no + 1)]
    shelves = [Shelf(s.id, (s.x0, s.y0, 0.0), (s.x1, s.y1, SHELF_HEIGHT), s.facing) for s in plan.shelves]
    bins = []
    for shelf, lv, row in placed:
        fx, fy = shelf.facing
        along_x = abs(fy) > 0.5  # the shelf runs along x when it faces +-y
        lo, hi = (shelf.x0, shelf.x1) if along_x else (shelf.y0, shelf.y1)
        right = -fy if along_x else fx  # the shopper's right, along the shelf
        pitch = (hi - lo) / shelf.per_level
        w = min(BIN_WIDTH, pitch - 0.08)
        z0, z1 = LEVELS[lv]
        for pos, (sku, cell) in enumerate(row):
            c = lo + pitch * (pos + 0.5) if right > 0 else hi - pitch * (pos + 0.5)
            a0, a1 = round(c - w / 2, 4), round(c + w / 2, 4)
            bmin = (a0, shelf.y0, z0) if along_x else (shelf.x0, a0, z0)
            bmax = (a1, shelf.y1, z1) if along_x else (shelf.x1, a1, z1)
            bins.append(Bin(f"{shelf.id}-{lv + 1}-{pos + 1:02d}", shelf.id, bmin, bmax, cell_ids[cell], sku,
                            int(rng.integers(4, 13))))
    store = Store([tuple(p) for p in plan.floor], list(plan.gates), shelves, sensors, bins, {"name": plan.name})
    return PresetBuild(store, products, looks)


# -- writing and reading -------------------------------------------------------------

def write_preset(name: str, out_dir: Path) -> None:
    """Write out_dir/store.json and out_dir/catalog/ (catalog.json and images) for a preset."""
    build = build_preset(name)
    out_dir = Path(out_dir)
    cat_dir = out_dir / "catalog"
    cat_dir.mkdir(parents=True, exist_ok=True)
    for p in build.products:
        write_product_images(build.looks[p.sku], cat_dir)
    (out_dir / "store.json").write_text(_dumps(build.store.to_json()))
    (cat_dir / "catalog.json").write_text(_dumps(Catalog(build.products, cat_dir).to_json()))


def _dumps(obj: dict) -> str:
    """JSON with one list item a line: diffable and readable without being 1000s of lines long."""
    lines = ["{"]
    for i, (key, value) in enumerate(obj.items()):
        end = "," if i < len(obj) - 1 else ""
        if isinstance(value, list) and value:
            lines.append(f" {json.dumps(key)}: [")
            lines += [f"  {json.dumps(v)}{',' if j < len(value) - 1 else ''}" for j, v in enumerate(value)]
            lines.append(f" ]{end}")
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value)}{end}")
    return "\n".join(lines + ["}"]) + "\n"


def load_preset(name: str) -> tuple[Store, Catalog]:
    """A preset as read back from disk, so callers get exactly what a recording of it would hold."""
    from data.store_source import load_store

    preset_plan(name)  # unknown names fail with this module's message, listing the presets
    return load_store(name)
