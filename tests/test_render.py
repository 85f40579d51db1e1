"""Per-camera rendering: people show up where they stand, shelves hide them, stock and blackouts show."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from data.cameras import Camera, look_at
from data.render import CameraRenderer, render_camera_streams
from data.store import Bin, Catalog, Gate, Product, Sensor, Shelf, Store
from data.video_io import read_frames
from data.world import NOSE, Appearance, HeldItem, LoadChange, PersonInfo, World

PRODUCT_COLOURS = {"sku-cola": (200, 30, 40), "sku-lime": (60, 170, 60), "sku-chips": (240, 200, 40)}
LOOKS = [Appearance((30, 80, 200), (40, 40, 50), (225, 180, 150), (60, 40, 20), (20, 20, 20), 1.75),
         Appearance((220, 120, 30), (60, 90, 160), (160, 110, 80), (20, 20, 20), (240, 240, 240), 1.75)]


# -- a small hand-built store -------------------------------------------------------------------

def make_catalog(root: Path) -> Catalog:
    products = []
    for i, (sku, rgb) in enumerate(PRODUCT_COLOURS.items()):
        img = np.full((120, 80, 3), rgb[::-1], np.uint8)  # BGR on disk
        cv2.rectangle(img, (8, 35), (72, 85), (245, 245, 245), -1)
        cv2.circle(img, (40, 60), 18, (40 * i, 90, 200 - 60 * i), -1)
        path = root / "images" / sku / "front.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), img)
        products.append(Product(sku, sku, 100 + i, 300.0, 2.0, sku, (f"images/{sku}/front.png",)))
    return Catalog(products, root)


def make_store() -> Store:
    """8 x 6 m; shelf S1 along y 1.0-1.5 facing +y, S2 along y 4.5-5.0 facing -y; 3 levels of 8 bins each."""
    shelves = [Shelf("S1", (2.0, 1.0, 0.0), (6.0, 1.5, 1.8), (0.0, 1.0)),
               Shelf("S2", (2.0, 4.5, 0.0), (6.0, 5.0, 1.8), (0.0, -1.0))]
    skus = list(PRODUCT_COLOURS)
    bins = [Bin(f"{s.id}-{lvl}-{j}", s.id, (2.02 + 0.5 * j, s.min[1], z0), (2.48 + 0.5 * j, s.max[1], z1), "lc-1",
                skus[(j + lvl) % 3], 3)
            for s in shelves for lvl, (z0, z1) in enumerate(((0.25, 0.6), (0.7, 1.05), (1.15, 1.5))) for j in range(8)]
    gates = [Gate("in-1", "entry", ((0.0, 2.5), (0.8, 3.5))), Gate("out-1", "exit", ((7.2, 2.5), (8.0, 3.5)))]
    return Store([(0, 0), (8, 0), (8, 6), (0, 6)], gates, shelves, [Sensor("lc-1", "load_cell", 30)], bins)


def make_camera(eye=(4.0, 3.0, 3.4), target=(4.0, 2.6, 0.0), f=330.0, dist=(-0.04, 0.01, 0, 0, 0),
                up=(0.0, 1.0, 0.0)) -> Camera:
    R, t = look_at(np.array(eye, float), np.array(target, float), np.array(up, float))
    K = np.array([[f, 0, 319.5], [0, f, 239.5], [0, 0, 1]])
    return Camera("cam-01", 640, 480, 15.0, K, np.array(dist, float), R, t, "cam-01.mp4", "cam-01.depth.mkv")


def standing_person(x: float, y: float, heading: float = 0.0, height: float = 1.75, reach: str | None = None,
                    reach_to=None) -> np.ndarray:
    """COCO-17 joints (17, 3) of a person standing at (x, y) facing `heading` (radians from +x)."""
    s = height / 1.75
    f = np.array([np.cos(heading), np.sin(heading), 0.0])
    left = np.array([-f[1], f[0], 0.0])

    def p(fw, lf, z):
        return np.array([x, y, 0.0]) + fw * f + lf * left + np.array([0, 0, z * s])

    j = np.array([p(0.09, 0.0, 1.62), p(0.07, 0.035, 1.65), p(0.07, -0.035, 1.65), p(0.0, 0.075, 1.63),
                  p(0.0, -0.075, 1.63), p(0.0, 0.2, 1.45), p(0.0, -0.2, 1.45), p(0.0, 0.24, 1.17),
                  p(0.0, -0.24, 1.17), p(0.03, 0.25, 0.9), p(0.03, -0.25, 0.9), p(0.0, 0.1, 0.95),
                  p(0.0, -0.1, 0.95), p(0.02, 0.1, 0.5), p(0.02, -0.1, 0.5), p(0.0, 0.1, 0.08),
                  p(0.0, -0.1, 0.08)])
    if reach is not None:  # one arm out to a point (into a bin)
        sh, el, wr = (5, 7, 9) if reach == "left" else (6, 8, 10)
        target = np.asarray(reach_to, float)
        j[wr] = target
        j[el] = j[sh] + 0.5 * (target - j[sh]) + np.array([0, 0, -0.08])
    return j


def make_world(store: Store, people: list[np.ndarray], duration: float = 20.0, held=(), load_changes=()) -> World:
    """People standing still over [0, duration]."""
    P = len(people)
    infos = [PersonInfo(f"p{i + 1}", "shopper", f"acct-{i}", LOOKS[i % 2], 0.0, np.inf) for i in range(P)]
    joints = (np.stack([np.stack(people)] * 2) if P else np.zeros((2, 0, 17, 3))).astype(np.float32)
    initial = {b.id: list(range(100 * k, 100 * k + b.stock)) for k, b in enumerate(store.bins)}
    return World(np.array([0.0, duration]), infos, joints, list(held), list(load_changes), [], initial, {}, {}, [],
                 [], [], duration)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalog")
    return make_store(), make_catalog(root), make_camera()


# -- tests ----------------------------------------------------------------------------------------

def test_people_show_where_they_stand(scene):
    store, catalog, cam = scene
    people = [standing_person(3.2, 2.3, -np.pi / 2), standing_person(4.8, 3.4, 0.4)]
    r = CameraRenderer(store, catalog, cam, seed=1)
    bg_rgb, bg_depth = r.render(1.0, make_world(store, []))
    rgb, depth = r.render(1.0, make_world(store, people))
    for j in people:
        neck = (j[5] + j[6]) / 2
        torso = (neck + (j[11] + j[12]) / 2) / 2
        head = (j[3] + j[4]) / 2
        for point in (neck, torso, head, j[NOSE]):
            u, v = np.round(cam.project(point)).astype(int)
            assert 0 <= u < cam.width and 0 <= v < cam.height
            diff = np.abs(rgb[v, u].astype(int) - bg_rgb[v, u]).sum()
            assert diff > 40, f"person not visible at {point}: {rgb[v, u]} vs background {bg_rgb[v, u]}"
            assert 0 < depth[v, u] < bg_depth[v, u] - 300
            # the depth is the body's surface in front of the point (from above: shoulders, head)
            z_mm = cam.to_camera(point)[2] * 1000
            assert z_mm - 600 < float(depth[v, u]) < z_mm + 100


def test_person_behind_a_shelf_is_hidden(scene):
    """From a low camera in the aisle, someone behind shelf S1 is hidden; the same person in the aisle is not."""
    store, catalog, _ = scene
    cam = make_camera(eye=(4.0, 3.6, 2.0), target=(4.0, 0.5, 1.0), f=300.0, up=(0.0, 0.0, 1.0))
    r = CameraRenderer(store, catalog, cam, seed=2)
    behind = standing_person(4.0, 0.5, np.pi / 2)
    assert cam.in_image(cam.project(behind)).all()  # in the picture, were the shelf not there
    empty = r.render(2.0, make_world(store, []))
    hidden = r.render(2.0, make_world(store, [behind]))
    assert np.array_equal(hidden[0], empty[0]) and np.array_equal(hidden[1], empty[1])
    seen = r.render(2.0, make_world(store, [standing_person(4.0, 2.3, np.pi / 2)]))
    assert (np.abs(seen[0].astype(int) - empty[0]).sum(2) > 40).sum() > 500


def test_people_occlude_each_other_by_depth(scene):
    """Two people on one line of sight: the nearer one's colour wins whatever the drawing order."""
    store, catalog, cam = scene
    near = standing_person(4.0, 2.4, 0.0)
    far = standing_person(4.0, 2.4, 0.0, height=1.3)  # same place, shorter: its head is under the other's
    r = CameraRenderer(store, catalog, cam, seed=3)
    u, v = np.round(cam.project((near[3] + near[4]) / 2)).astype(int)
    for order in ([near, far], [far, near]):
        world = make_world(store, order)
        world.people[0] = PersonInfo("p1", "shopper", "a", LOOKS[0], 0, np.inf)
        world.people[1] = PersonInfo("p2", "shopper", "b", LOOKS[1], 0, np.inf)
        rgb, _ = r.render(1.0, world)
        tall = 0 if order[0] is near else 1
        hair = np.array(LOOKS[tall].hair)
        assert np.abs(rgb[v, u].astype(int) - hair).sum() < 40


def test_stock_change_changes_the_bins_pixels(scene):
    store, catalog, cam = scene
    r = CameraRenderer(store, catalog, cam, seed=4)
    view = max(r.bg.bins, key=lambda b: len(b.idx))  # the bin this camera sees best
    b = view.bin
    takes = [LoadChange(5.0, b.id, b.sku, 100, -1), LoadChange(5.0, b.id, b.sku, 101, -1)]
    world = make_world(store, [], load_changes=takes)
    before, d_before = r.render(4.0, world)
    after, d_after = r.render(6.0, world)
    again, _ = r.render(4.0, world)  # going back in time restores the stock
    mask = np.zeros(cam.height * cam.width, bool)
    mask[view.idx] = True
    mask = mask.reshape(cam.height, cam.width)
    changed = np.abs(after.astype(int) - before).sum(2) > 60
    assert changed[mask].sum() > 20
    assert changed[~mask].sum() == 0  # nothing else moved
    assert np.mean(d_after[mask & changed].astype(float)) > np.mean(d_before[mask & changed].astype(float))
    assert np.array_equal(again, before)


def test_gain_noise_and_determinism(scene):
    store, catalog, cam = scene
    world = make_world(store, [standing_person(3.5, 2.5)])
    a1, d1 = CameraRenderer(store, catalog, cam, seed=5).render(1.0, world)
    a2, d2 = CameraRenderer(store, catalog, cam, seed=5).render(1.0, world)
    assert np.array_equal(a1, a2) and np.array_equal(d1, d2)
    b1, _ = CameraRenderer(store, catalog, cam, seed=6).render(1.0, world)
    noise = a1.astype(float) - b1
    assert 0.5 < noise.std() < 6  # small sensor noise
    dark, _ = CameraRenderer(store, catalog, cam, seed=5).render(1.0, world, gain=0.5)
    assert dark.mean() == pytest.approx(0.5 * a1.mean(), rel=0.06)


def test_held_product_is_drawn_near_the_hand(scene):
    store, catalog, cam = scene
    person = standing_person(4.0, 2.6, 0.0)
    person[10] = person[6] + np.array([0.35, -0.05, -0.1])  # right arm forward, hand at chest height
    person[8] = (person[6] + person[10]) / 2 - np.array([0, 0, 0.1])
    world = make_world(store, [person], held=[HeldItem("p1", "sku-lime", "right", 0.0, np.inf, 7)])
    empty_hand = make_world(store, [person])
    r = CameraRenderer(store, catalog, cam, seed=7)
    with_item, _ = r.render(1.0, world)
    without, _ = r.render(1.0, empty_hand)
    diff = np.abs(with_item.astype(int) - without).sum(2) > 60
    assert diff.sum() > 30
    vs, us = np.nonzero(diff)
    hand = cam.project(person[10])
    assert np.hypot(us.mean() - hand[0], vs.mean() - hand[1]) < 40
    # the product's green shows
    g = with_item[diff].astype(int)
    assert ((g[:, 1] > g[:, 0] + 40) & (g[:, 1] > g[:, 2] + 40)).sum() > 5


def test_streams_with_blackout(scene, tmp_path):
    store, catalog, cam = scene
    world = make_world(store, [standing_person(3.5, 2.5), standing_person(4.5, 3.2, 2.0)])
    steps = np.r_[0.2, np.full(29, 1 / 15)]
    steps[15] += 0.07  # a dropped frame and some jitter
    times = np.round(np.cumsum(steps), 3)
    black = np.zeros(30, bool)
    black[10:15] = True
    gains = np.linspace(1.0, 0.8, 30)
    seen = []
    stats = render_camera_streams(store, catalog, cam, world, times, black, gains, tmp_path / "cam.mp4",
                                  tmp_path / "cam.depth.mkv", seed=8, progress=seen.append)
    assert stats.frames == 30 and stats.black == 5
    assert seen == sorted(seen) and 1 < len(seen) < 30 and seen[-1] == 1.0
    colour = list(read_frames(tmp_path / "cam.mp4"))
    depth = list(read_frames(tmp_path / "cam.depth.mkv"))
    assert len(colour) == len(depth) == 30
    tc, td = np.array([t for t, _ in colour]), np.array([t for t, _ in depth])
    assert np.abs(tc - times).max() < 1e-3 and np.abs(tc - td).max() < 1e-3
    for i, ((_, rgb), (_, d)) in enumerate(zip(colour, depth)):
        if black[i]:
            assert rgb.max() <= 3 and not d.any()
        else:
            assert rgb.mean() > 60 and (d > 0).mean() > 0.99
    # without a depth path only colour is written
    render_camera_streams(store, catalog, cam, world, times[:3], black[:3], gains[:3], tmp_path / "c2.mp4", None, 8)
    assert (tmp_path / "c2.mp4").exists() and not (tmp_path / "c2.depth.mkv").exists()


def test_sample_frame_looks_like_a_store(scene, tmp_path):
    """Floor, shelves with products and people are all there (and saved for eyeballing)."""
    store, catalog, cam = scene
    people = [standing_person(3.0, 2.0, -np.pi / 2, reach="right", reach_to=(2.75, 1.52, 1.2)),
              standing_person(5.0, 3.0, 0.3), standing_person(4.2, 3.8, np.pi / 2, 1.65)]
    world = make_world(store, people, held=[HeldItem("p2", "sku-cola", "right", 0.0, np.inf, 1)])
    rgb, depth = CameraRenderer(store, catalog, cam, seed=9).render(1.0, world)
    cv2.imwrite(str(tmp_path / "sample.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert rgb.shape == (480, 640, 3) and depth.shape == (480, 640)
    red = (rgb[..., 0] > 150) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)
    assert red.sum() > 100  # cola on the shelves
    assert 2500 < np.median(depth) < 4000  # mostly floor, 3.4 m under the camera
