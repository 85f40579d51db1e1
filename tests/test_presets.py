"""Store presets: spec-conforming files, sane geometry, look-alike families that look different."""
from __future__ import annotations

import json
from collections import Counter, deque

import cv2
import numpy as np
import pytest

from data.catalog_images import ProductLook, draw_product
from data.errors import ScenarioError
from data.presets import PRESETS, load_preset, write_preset
from data.store import Store, read_store_dir

AISLE_M = 1.6
CLEAR_M = 0.8
BODY_RADIUS_M = 0.25


@pytest.fixture(scope="module", params=PRESETS)
def preset(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    write_preset(request.param, out)
    store, catalog = read_store_dir(out)
    return request.param, out, store, catalog


def test_unknown_preset_names_the_presets(tmp_path):
    with pytest.raises(ScenarioError) as e:
        write_preset("mega-mall", tmp_path)
    assert "mega-mall" in str(e.value) and all(p in str(e.value) for p in PRESETS)
    with pytest.raises(ScenarioError):
        load_preset("mega-mall")


def test_files_round_trip(preset):
    _, out, store, catalog = preset
    assert json.loads((out / "store.json").read_text()) == store.to_json()
    assert json.loads((out / "catalog" / "catalog.json").read_text()) == catalog.to_json()
    for p in catalog.products:
        assert p.images[0] == f"images/{p.sku}/front.png"
        for i in range(len(p.images)):
            assert catalog.image_path(p.sku, i).is_file()


def test_output_is_deterministic(preset, tmp_path):
    name, out, _, _ = preset
    write_preset(name, tmp_path)
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_load_preset_matches_written(preset):
    name, _, store, catalog = preset
    s2, c2 = load_preset(name)
    assert s2.to_json() == store.to_json() and c2.to_json() == catalog.to_json()


def test_counts_and_families(preset):
    name, _, store, catalog = preset
    min_bins, min_products = {"corner-store": (40, 30), "go-store": (150, 30)}[name]
    assert len(store.bins) >= min_bins and len(catalog.products) >= min_products
    families = [f for f in catalog.families().values() if len(f) > 1]
    assert len(families) >= 3
    for fam in families:
        assert 2 <= len(fam) <= 3
        assert len({(p.weight_g, p.weight_sd_g, p.price_cents) for p in fam}) == 1, fam
        assert len({p.name for p in fam}) == len(fam)
    assert {b.sku for b in store.bins} == set(catalog.by_sku)
    if name == "go-store":
        assert len(store.entry_gates()) >= 2 and len(store.exit_gates()) >= 2


def test_product_values(preset):
    _, _, store, catalog = preset
    for p in catalog.products:
        assert 30 <= p.weight_g <= 1200
        assert 0.004 * p.weight_g <= p.weight_sd_g <= 0.016 * p.weight_g, p
        assert isinstance(p.price_cents, int) and p.price_cents > 0
    assert all(4 <= b.stock <= 12 for b in store.bins)


def _row_and_pos(bin_id: str) -> tuple[str, int]:
    shelf, level, pos = bin_id.split("-")
    return f"{shelf}-{level}", int(pos)


def test_load_cells_shared_by_neighbours(preset):
    _, _, store, catalog = preset
    assert all(s.kind == "load_cell" and s.rate_hz == 30 for s in store.sensors)
    sizes = Counter(b.sensor for b in store.bins)
    assert set(sizes) == {s.id for s in store.sensors}
    assert max(sizes.values()) <= 3
    assert sum(1 for n in sizes.values() if n >= 2) >= 3
    for sensor, n in sizes.items():
        bins = store.bins_on(sensor)
        rows = {_row_and_pos(b.id)[0] for b in bins}
        assert len(rows) == 1, f"{sensor} spans shelf levels"
        pos = sorted(_row_and_pos(b.id)[1] for b in bins)
        assert pos == list(range(pos[0], pos[0] + n)), f"{sensor} bins are not neighbours"
        weights = [catalog.by_sku[b.sku].weight_g for b in bins]
        fams = {catalog.by_sku[b.sku].family for b in bins}
        if n > 1 and len(fams) > 1:  # unrelated products on one plate must differ clearly in weight
            assert min(weights) * 1.2 < max(weights)


def test_shelves_and_bins_geometry(preset):
    _, _, store, _ = preset
    for s in store.shelves:
        f = np.asarray(s.facing)
        assert sorted(np.abs(f).tolist()) == [0.0, 1.0]
        assert 1.8 <= s.max[2] <= 2.0 and s.min[2] == 0
        ax = int(np.argmax(np.abs(f)))
        assert 0.4 <= s.max[ax] - s.min[ax] <= 0.6
    by_shelf: dict[str, list] = {}
    for b in store.bins:
        s = store.shelf_by_id[b.shelf]
        lo, hi = np.asarray(b.min), np.asarray(b.max)
        assert (lo >= np.asarray(s.min) - 1e-9).all() and (hi <= np.asarray(s.max) + 1e-9).all(), b.id
        f = np.asarray(s.facing)
        ax = int(np.argmax(np.abs(f)))
        face = s.max[ax] if f[ax] > 0 else s.min[ax]
        centre, half_w, half_h = store.opening(b)
        assert abs(centre[ax] - face) < 1e-9, f"{b.id} does not open on the facing face"
        assert hi[ax] - lo[ax] == pytest.approx(s.max[ax] - s.min[ax])
        assert 0.35 <= lo[2] <= 1.75, b.id
        assert 0.25 <= 2 * np.linalg.norm(half_w) <= 0.4 and 0.25 <= 2 * half_h[2] <= 0.35
        by_shelf.setdefault(b.shelf, []).append((lo, hi))
    for boxes in by_shelf.values():
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                (a0, a1), (b0, b1) = boxes[i], boxes[j]
                assert not (np.minimum(a1, b1) - np.maximum(a0, b0) > 1e-9).all(), "bins overlap"


def _rect(s) -> tuple[float, float, float, float]:
    return s.min[0], s.min[1], s.max[0], s.max[1]


def _gap(a, b) -> float:
    """Distance between two axis-aligned rectangles; negative when their insides overlap."""
    dx = max(b[0] - a[2], a[0] - b[2])
    dy = max(b[1] - a[3], a[1] - b[3])
    if dx < 0 and dy < 0:
        return max(dx, dy)
    return float(np.hypot(max(dx, 0.0), max(dy, 0.0)))


def test_aisles_and_clearances(preset):
    _, _, store, _ = preset
    x0, y0, x1, y1 = store.bounds
    rects = {s.id: _rect(s) for s in store.shelves}
    for s in store.shelves:
        sx0, sy0, sx1, sy1 = rects[s.id]
        fx, fy = s.facing
        aisle = {(0.0, 1.0): (sx0, sy1, sx1, sy1 + AISLE_M), (0.0, -1.0): (sx0, sy0 - AISLE_M, sx1, sy0),
                 (1.0, 0.0): (sx1, sy0, sx1 + AISLE_M, sy1), (-1.0, 0.0): (sx0 - AISLE_M, sy0, sx0, sy1)}[(fx, fy)]
        assert x0 <= aisle[0] and aisle[2] <= x1 and y0 <= aisle[1] and aisle[3] <= y1, f"{s.id}: aisle off the floor"
        for o in store.shelves:
            if o.id != s.id:
                assert _gap(aisle, rects[o.id]) >= -1e-9, f"{s.id}'s aisle runs into {o.id}"
                g = _gap(rects[s.id], rects[o.id])
                assert g >= -1e-9 and (g < 1e-9 or g >= CLEAR_M - 1e-9), f"{s.id}-{o.id} gap {g:.2f} m"
        for g in (sx0 - x0, x1 - sx1, sy0 - y0, y1 - sy1):  # against the walls (rectangular floors)
            assert g >= -1e-9 and (g < 1e-9 or g >= CLEAR_M - 1e-9), f"{s.id}: wall gap {g:.2f} m"


def _walkable(store: Store, res: float = 0.1) -> tuple[np.ndarray, tuple[float, float]]:
    x0, y0, x1, y1 = store.bounds
    xs = np.arange(x0 + res / 2, x1, res)
    ys = np.arange(y0 + res / 2, y1, res)
    gx, gy = np.meshgrid(xs, ys)
    free = ((gx > x0 + BODY_RADIUS_M) & (gx < x1 - BODY_RADIUS_M)
            & (gy > y0 + BODY_RADIUS_M) & (gy < y1 - BODY_RADIUS_M))
    for s in store.shelves:
        free &= ~((gx > s.min[0] - BODY_RADIUS_M) & (gx < s.max[0] + BODY_RADIUS_M)
                  & (gy > s.min[1] - BODY_RADIUS_M) & (gy < s.max[1] + BODY_RADIUS_M))
    return free, (x0, y0)


def test_gates_and_walkable_floor(preset):
    _, _, store, _ = preset
    x0, y0, x1, y1 = store.bounds
    free, origin = _walkable(store)
    res = 0.1

    def cell(xy):
        return int((xy[1] - origin[1]) / res), int((xy[0] - origin[0]) / res)

    for g in store.gates:
        (gx0, gy0), (gx1, gy1) = g.zone
        assert x0 <= gx0 < gx1 <= x1 and y0 <= gy0 < gy1 <= y1
        assert gx1 - gx0 == pytest.approx(1.0) and gy1 - gy0 == pytest.approx(1.0)
        for s in store.shelves:
            assert _gap((gx0, gy0, gx1, gy1), _rect(s)) > 0.5, f"{g.id} crowds {s.id}"
        assert free[cell(g.center)], g.id
    # every bin's standing spot is reachable from every gate
    for g in store.gates:
        seen = np.zeros_like(free)
        q = deque([cell(g.center)])
        seen[q[0]] = True
        while q:
            r, c = q.popleft()
            for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                n = (r + dr, c + dc)
                if 0 <= n[0] < free.shape[0] and 0 <= n[1] < free.shape[1] and free[n] and not seen[n]:
                    seen[n] = True
                    q.append(n)
        for b in store.bins:
            centre, _, _ = store.opening(b)
            spot = centre[:2] + 0.5 * store.facing(b)
            assert seen[cell(spot)], f"bin {b.id} cannot be reached from {g.id}"


def test_images_and_look_alikes(preset):
    _, _, _, catalog = preset
    for p in catalog.products[:5]:
        img = cv2.imread(str(catalog.image_path(p.sku)))
        assert img is not None and img.shape == (128, 96, 3)
    for fam in catalog.families().values():
        if len(fam) < 2:
            continue
        imgs = [cv2.imread(str(catalog.image_path(p.sku))).astype(int) for p in fam]
        for i in range(len(imgs)):
            for j in range(i + 1, len(imgs)):
                diff = np.abs(imgs[i] - imgs[j])
                assert diff.mean() > 15 and (diff.max(2) > 40).mean() > 0.25, \
                    f"{fam[i].sku} and {fam[j].sku} look the same"
                assert (diff.max(2) == 0).mean() > 0.2, f"{fam[i].sku} and {fam[j].sku} share no layout"


def test_draw_product_is_deterministic_rgb():
    look = ProductLook("sku-0001", "Fizz", "Cherry", "can", (20, 40, 120), (125, 15, 55), "stripes", "330 ml")
    a, b = draw_product(look), draw_product(look)
    assert a.shape == (128, 96, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert (a == np.array(look.flavour_rgb)).all(2).mean() > 0.1  # RGB order: the body is the flavour colour
    side = draw_product(look, "side")
    assert side.shape == a.shape and not np.array_equal(side, a)
    with pytest.raises(ValueError):
        draw_product(look, "top")
