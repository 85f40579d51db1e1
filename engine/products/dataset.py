"""Training data for the product embedding: a library of catalog pictures and in-hand crops.

Everything derives from a seed, so a seed always gives the same arrays.

**Library** (`build_library`): the catalog pictures the network learns from and is
checked on, each with a family (look-alikes) and a split:
- the presets' catalogs (corner-store, go-store; `data.store_source.load_store`); a third
  of go-store's look-alike families (and some singles) are held out ("val");
- random catalogs drawn with the simulator's own package painter
  (`data.catalog_images.draw_product`) but with random brand words, brand and flavour
  colours, shapes and patterns, in families of 1-4 siblings that differ only in flavour
  colour and word, as the presets' do;
- "flat" pictures in the tiny test store's style (a flat colour, a white label, a word);
the random and flat catalogs come in a training and a held-out ("val") seed.

**Rendered crops** (`scenario_samples`): random shopping stories in a preset
(`data.random_scenario.build` + `data.choreography.choreograph`), rendered by the
simulator (`data.render.CameraRenderer`) at moments when people carry products, with every
carried product *re-skinned*: the world is wrapped so that each held unit shows a library
product A, then (same moment, same pixels otherwise) its sibling B, then nothing. So each
sample is three crops of one hand, which differ only in the product: the network must read
the product, not the context. A-vs-B pixel differences inside the billboard also say how
much of the product is visible (hidden by the body, a shelf or another person); samples
with less than MIN_VISIBLE of it showing are dropped. Frames go through a real H.264 round
trip (libx264 as recordings are written, random CRF), sometimes with a lighting gain. The
crop is cut as inference cuts it (`model.crop_at` around the wrist or the point a little
beyond it along the forearm, CROP_M at that depth), with the wrist jittered by a 3D
pose error; the billboard's rectangle in crop pixels is kept so that training can paste
any library picture into the empty crop.

Arrays are cached as .npz under the temp dir (WALKOUT_CACHE or /tmp/walkout-cache/products).
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from data.camera_placement import auto_cameras
from data.catalog_images import PATTERNS, SHAPES, ProductLook, draw_product
from data.errors import ScenarioError
from data.random_scenario import Knobs, training_world
from data.render import HELD_SIZE_M, L_HAND, R_HAND, CameraRenderer, body_points
from data.scenario import AutoCameras
from data.store import Catalog, Product
from data.store_source import load_store
from data.video_io import ColourWriter, read_frames
from data.world import L_ELBOW, L_WRIST, R_ELBOW, R_WRIST, World
from engine.products.model import CROP_M, HAND_OFFSET_M, INPUT_SIZE, crop_at

VERSION = 1  # bump when the generator changes: the cache keys include it
PIC_W, PIC_H = 96, 128  # library pictures are stored at this size (the presets' own)
PRESETS = ("corner-store", "go-store")
HELD_OUT_PRESET = "go-store"  # a third of its families are validation-only
RESOLUTIONS = ((640, 480), (640, 480), (800, 600), (512, 384))
MIN_VISIBLE = 0.3  # share of the billboard that must differ between skins A and B
POSE_ERR_M = 0.03  # sd of the simulated 3D wrist error, per axis
FPS = 15.0


# -- the library -------------------------------------------------------------------------------

@dataclass
class Library:
    """Catalog pictures with their family and split; index i is product i everywhere."""
    skus: list[str]
    families: list[str]  # look-alike groups (names unique across sources)
    sources: list[str]  # corner-store | go-store | looks-<seed> | flat-<seed>
    split: np.ndarray  # (N,) "train" | "val"
    images: np.ndarray  # (N, PIC_H, PIC_W, 3) uint8 RGB

    def members(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, f in enumerate(self.families):
            out.setdefault(f, []).append(i)
        return out

    def subset(self, idx) -> Library:
        idx = list(idx)
        return Library([self.skus[i] for i in idx], [self.families[i] for i in idx],
                       [self.sources[i] for i in idx], self.split[idx], self.images[idx])


def _word(rng: np.random.Generator, lo: int = 3, hi: int = 7) -> str:
    n = int(rng.integers(lo, hi + 1))
    cons, vow = "bcdfghjklmnprstvwz", "aeiou"
    return "".join(rng.choice(list(cons if i % 2 == 0 else vow)) for i in range(n)).capitalize()


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))  # type: ignore[return-value]


def _distinct_colours(rng: np.random.Generator, n: int, min_dist: float = 90.0) -> list[tuple[int, int, int]]:
    """n random colours pairwise at least min_dist apart (RGB), as siblings' flavour colours are."""
    out: list[tuple[int, int, int]] = []
    while len(out) < n:
        c = _colour(rng)
        if all(np.linalg.norm(np.subtract(c, d)) >= min_dist for d in out):
            out.append(c)
    return out


def random_looks(seed: int, families: int) -> list[tuple[str, str, np.ndarray]]:
    """(sku, family, picture) for random packages in the presets' style (draw_product)."""
    rng = np.random.default_rng([seed, 31])
    out = []
    for f in range(families):
        k = int(rng.choice([1, 2, 2, 3, 3, 4]))
        brand, shape, pattern = _word(rng, 3, 6), str(rng.choice(SHAPES)), str(rng.choice(PATTERNS))
        brand_rgb = _colour(rng)
        size = f"{int(rng.integers(1, 20)) * 25} {rng.choice(['g', 'ml'])}"
        fam = f"looks{seed}-f{f:04d}"
        for j, rgb in enumerate(_distinct_colours(rng, k)):
            sku = f"{fam}-{j}"
            look = ProductLook(sku, brand, _word(rng, 4, 8), shape, brand_rgb, rgb, pattern, size)
            out.append((sku, fam, draw_product(look, "front")))
    return out


def flat_looks(seed: int, families: int) -> list[tuple[str, str, np.ndarray]]:
    """(sku, family, picture) in the tiny test store's style: a flat colour, a light label, a word."""
    rng = np.random.default_rng([seed, 37])
    out = []
    for f in range(families):
        k = int(rng.choice([2, 2, 3]))
        y0 = int(rng.integers(10, 70))
        y1 = y0 + int(rng.integers(20, 50))
        x0 = int(rng.integers(2, 14))
        label = tuple(int(c) for c in rng.integers(200, 256, 3))
        fam = f"flat{seed}-f{f:04d}"
        for j, rgb in enumerate(_distinct_colours(rng, k)):
            img = np.full((PIC_H, PIC_W, 3), rgb, np.uint8)
            cv2.rectangle(img, (x0, y0), (PIC_W - x0, min(y1, PIC_H - 4)), label, -1)
            cv2.putText(img, _word(rng, 3, 5), (x0 + 2, (y0 + min(y1, PIC_H - 4)) // 2 + 6),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 2)
            out.append((f"{fam}-{j}", fam, img))
    return out


def _picture(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ScenarioError(f"cannot read catalog image {path}")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.shape[:2] != (PIC_H, PIC_W):
        img = cv2.resize(img, (PIC_W, PIC_H), interpolation=cv2.INTER_AREA)
    return img


def catalog_rows(catalog: Catalog, source: str) -> list[tuple[str, str, np.ndarray]]:
    """(sku, family, first picture) of a catalog (the picture the renderer draws in hands)."""
    return [(p.sku, f"{source}:{p.family}", _picture(catalog.image_path(p.sku))) for p in catalog.products]


@dataclass(frozen=True)
class LibraryConfig:
    looks_families: int = 260
    flat_families: int = 60
    val_looks_families: int = 50
    val_flat_families: int = 15


def build_library(seed: int = 0, cfg: LibraryConfig = LibraryConfig()) -> Library:
    """The presets' catalogs plus random and flat catalogs (training seed and held-out seed)."""
    rows: list[tuple[str, str, np.ndarray, str, str]] = []
    for name in PRESETS:
        _, cat = load_store(name)
        fams = sorted({p.family for p in cat.products})
        held = {f for i, f in enumerate(fams) if i % 3 == 1} if name == HELD_OUT_PRESET else set()
        for sku, fam, img in catalog_rows(cat, name):
            rows.append((sku, fam, img, name, "val" if fam.split(":", 1)[1] in held else "train"))
    vseed = seed + 1000
    for s, split, nl, nf in ((seed, "train", cfg.looks_families, cfg.flat_families),
                             (vseed, "val", cfg.val_looks_families, cfg.val_flat_families)):
        rows += [(k, f, img, f"looks-{s}", split) for k, f, img in random_looks(s, nl)]
        rows += [(k, f, img, f"flat-{s}", split) for k, f, img in flat_looks(s, nf)]
    return Library([r[0] for r in rows], [r[1] for r in rows], [r[3] for r in rows],
                   np.array([r[4] for r in rows]), np.stack([r[2] for r in rows]))


# -- rendering with re-skinned held products ----------------------------------------------------

class _Skinned:
    """A World whose held units show other products (`skins`: (person, unit) -> sku; None: not drawn)."""

    def __init__(self, world: World) -> None:
        self._w = world
        self.skins: dict[tuple[str, int], str | None] = {}

    def __getattr__(self, name: str):
        return getattr(self._w, name)

    def held_at(self, t: float):
        out = []
        for h in self._w.held_at(t):
            sku = self.skins.get((h.person, h.unit), h.sku)
            if sku is not None:
                out.append(replace(h, sku=sku))
        return out


def library_catalog(lib: Library, base: Catalog, folder: Path) -> Catalog:
    """`base` plus every library product (pictures written once under folder, absolute paths)."""
    folder.mkdir(parents=True, exist_ok=True)
    extra = []
    for i, sku in enumerate(lib.skus):
        key = f"lib-{i:05d}"
        path = folder / f"{key}.png"
        if not path.is_file():
            tmp = folder / f".{key}.{os.getpid()}.png"
            cv2.imwrite(str(tmp), cv2.cvtColor(lib.images[i], cv2.COLOR_RGB2BGR))
            tmp.replace(path)
        extra.append(Product(key, sku, 100, 100.0, 1.0, lib.families[i], (str(path),)))
    return Catalog(list(base.products) + extra, base.root)


def _h264(frames: list[np.ndarray], crf: int) -> list[np.ndarray]:
    """The frames after an H.264 encode/decode round trip (as the recordings store them)."""
    if not frames:
        return []
    H, W = frames[0].shape[:2]
    fd, path = tempfile.mkstemp(suffix=".mp4", prefix="walkout-products-")
    os.close(fd)
    try:
        with ColourWriter(path, W, H, FPS, crf=crf) as w:
            for i, f in enumerate(frames):
                w.write(f, i / FPS)
        out = [img for _, img in read_frames(path)]
    finally:
        os.unlink(path)
    if len(out) != len(frames):
        raise RuntimeError(f"h264 round trip: {len(frames)} frames in, {len(out)} out")
    return out


@dataclass(frozen=True)
class GenConfig:
    """How much to render; the defaults are the training set's."""
    scenarios: int = 10
    times_per_camera: int = 80
    max_cameras: int = 6
    split: str = "train"  # which library products the skins come from
    sources: tuple[str, ...] = ()  # only these library sources (empty: all of the split)
    stores: tuple[str, ...] = PRESETS
    h264: bool = True
    keep_real: float = 0.0  # share of held units left as the scenario has them (if in the pool)

    def key(self, seed: int, lib_key: str) -> str:
        txt = repr((VERSION, seed, lib_key, asdict(self)))
        return hashlib.sha1(txt.encode()).hexdigest()[:12]


def _world(rng: np.random.Generator, seed: int, store_name: str):
    store, catalog = load_store(store_name)
    w, h = RESOLUTIONS[int(rng.integers(len(RESOLUTIONS)))]
    auto = AutoCameras(height_m=float(rng.uniform(2.9, 3.5)), spacing_m=float(rng.choice([2.0, 2.5, 3.0])),
                       width=w, height=h)
    try:
        cams = auto_cameras(store, auto)
    except ScenarioError:
        cams = auto_cameras(store, AutoCameras(width=w, height=h))
    k = Knobs(seed=seed, store=store_name, duration_s=float(rng.uniform(30, 45)),
              people=int(rng.integers(4, 8)), parties=int(rng.integers(0, 2)), crowding=float(rng.uniform(0.3, 0.9)),
              items=(2, 4), simultaneous=float(rng.uniform(0.1, 0.4)), lookalike=0.4, touches=0.1,
              camera_width=w, camera_height=h)
    return store, catalog, cams, training_world(k, store, catalog, [c.id for c in cams], "products dataset")


def billboard(cam, pts: np.ndarray, hand: str) -> tuple[np.ndarray, float, float] | None:
    """(centre uv, width px, height px) of the product billboard the renderer draws for a hand."""
    wrist, hnd = (L_WRIST, L_HAND) if hand == "left" else (R_WRIST, R_HAND)
    c3 = pts[wrist] + 1.8 * (pts[hnd] - pts[wrist])
    zc = float(cam.to_camera(c3)[2])
    uv = cam.project(c3)
    if zc <= 0.05 or not np.isfinite(uv).all():
        return None
    f = float(cam.K[0, 0])
    return uv, HELD_SIZE_M[0] * f / zc, HELD_SIZE_M[1] * f / zc


def crop_centre(wrist: np.ndarray, elbow: np.ndarray | None) -> np.ndarray:
    """Where a crop is centred: a little beyond the wrist along the forearm when the elbow is known."""
    if elbow is None or not np.isfinite(elbow).all():
        return wrist
    fa = wrist - elbow
    n = np.linalg.norm(fa)
    return wrist if n < 1e-6 else wrist + HAND_OFFSET_M * fa / n


def scenario_samples(seed: int, index: int, cfg: GenConfig, lib: Library, lib_dir: Path) -> dict[str, np.ndarray]:
    """All samples of one scenario (deterministic in seed and index); see `concat` for the arrays."""
    cv2.setNumThreads(1)
    rng = np.random.default_rng([seed, index, 11])
    store_name = cfg.stores[int(rng.integers(len(cfg.stores)))]
    store, catalog, cams, world = _world(rng, int(seed * 100003 + index) % (2 ** 31), store_name)
    pool = [i for i in range(len(lib.skus)) if lib.split[i] == cfg.split
            and (not cfg.sources or lib.sources[i] in cfg.sources)]
    members = lib.members()
    fam_of = {i: members[lib.families[i]] for i in pool}
    key_of = {i: f"lib-{i:05d}" for i in range(len(lib.skus))}
    real_ok = {lib.skus[i]: i for i in pool if lib.sources[i] == store_name}
    cat = library_catalog(lib, catalog, lib_dir)
    sk = _Skinned(world)
    heights = np.array([p.appearance.height_m for p in world.people])
    held = [h for h in world.held if np.isfinite(h.t0)]
    if not held:
        return concat([])
    # moments with products in hands, per camera those where a held hand is in view
    t_hold = []
    for h in held:
        t1 = min(h.t1, world.duration_s - 0.1)
        if t1 > h.t0 + 0.1:
            t_hold.append((h.t0 + 0.05, t1))
    rows: dict[str, list] = {k: [] for k in _KEYS}
    plans = []
    for ci in rng.permutation(len(cams)):
        cam = cams[int(ci)]
        cand = []
        for _ in range(cfg.times_per_camera * 4):
            a, b = t_hold[int(rng.integers(len(t_hold)))]
            cand.append(round(float(rng.uniform(a, b)), 3))
        todo = []
        for t in sorted(set(cand)):
            J = world.joints_at(t)
            vis = []
            for h in world.held_at(t):
                p = world.person_index(h.person)
                wr = J[p, L_WRIST if h.hand == "left" else R_WRIST]
                if not np.isfinite(wr).all():
                    continue
                z = float(cam.to_camera(wr)[2])
                if z > 0.3 and cam.in_image(cam.project(wr)[None], margin=-4)[0]:
                    vis.append(h)
            if vis:
                todo.append((t, vis))
        if todo:
            sel = rng.permutation(len(todo))[:cfg.times_per_camera]
            plans.append((len(todo), cam, [todo[i] for i in sorted(sel)]))
    plans.sort(key=lambda x: -x[0])
    for _, cam, todo in plans[:cfg.max_cameras]:
        ren = CameraRenderer(store, cat, cam, seed=int(rng.integers(2 ** 31)))
        gain = 1.0 if rng.random() < 0.7 else float(rng.uniform(0.6, 1.35))
        f = float((cam.K[0, 0] + cam.K[1, 1]) / 2)
        frames: dict[str, list[np.ndarray]] = {"a": [], "b": [], "e": []}
        metas = []
        for t, vis in todo:
            # skins for every unit held now: A from the pool, B a sibling (or another product)
            pairs = {}
            for h in world.held_at(t):
                if h.sku in real_ok and rng.random() < cfg.keep_real:
                    a = real_ok[h.sku]
                else:
                    a = pool[int(rng.integers(len(pool)))]
                sib = [j for j in fam_of[a] if j != a]
                b = sib[int(rng.integers(len(sib)))] if sib else pool[int(rng.integers(len(pool)))]
                pairs[(h.person, h.unit)] = (a, b)
            for mode, col in (("a", 0), ("b", 1), ("e", None)):
                sk.skins = {k: (key_of[v[col]] if col is not None else None) for k, v in pairs.items()}
                rgb, _ = ren.render(t, sk, gain)
                frames[mode].append(rgb)
            metas.append((t, vis, pairs))
        ra, rb = frames["a"], frames["b"]
        if cfg.h264:
            crf = int(rng.choice([18, 23, 23, 26, 29]))
            for mode in frames:
                frames[mode] = _h264(frames[mode], crf)
        for k, (t, vis, pairs) in enumerate(metas):
            J = world.joints_at(t)
            for h in vis:
                p = world.person_index(h.person)
                pts = body_points(J[p][None], heights[p:p + 1])[0]
                bb = billboard(cam, pts, h.hand)
                if bb is None:
                    continue
                (bu, bv), bw, bh = bb
                x0, y0 = int(round(bu - bw / 2)), int(round(bv - bh / 2))
                xa, ya = max(x0, 0), max(y0, 0)
                xb, yb = min(x0 + max(2, int(round(bw))), cam.width), min(y0 + max(2, int(round(bh))), cam.height)
                if xa >= xb or ya >= yb:
                    continue
                diff = np.abs(ra[k][ya:yb, xa:xb].astype(np.int16) - rb[k][ya:yb, xa:xb].astype(np.int16)).max(-1)
                visible = float((diff > 12).sum()) / max(bw * bh, 1.0)
                if visible < MIN_VISIBLE:
                    continue
                wrist = J[p, L_WRIST if h.hand == "left" else R_WRIST] + rng.normal(0, POSE_ERR_M, 3)
                elbow = J[p, L_ELBOW if h.hand == "left" else R_ELBOW] + rng.normal(0, POSE_ERR_M, 3)
                c3 = crop_centre(wrist, elbow if rng.random() < 0.6 else None)
                z = float(cam.to_camera(c3)[2])
                uv = cam.project(c3)
                if z <= 0.1 or not np.isfinite(uv).all():
                    continue
                side = CROP_M * f / z * float(rng.uniform(0.9, 1.1))
                a, b = pairs[(h.person, h.unit)]
                crops = []
                for mode in ("a", "b", "e"):
                    c, M, s = crop_at(frames[mode][k], float(uv[0]), float(uv[1]), side)
                    crops.append(c)
                # billboard rectangle in crop pixels (x0, y0, x1, y1), pixel-centre convention
                q0 = M @ np.array([bu - bw / 2, bv - bh / 2, 1.0])
                q1 = M @ np.array([bu + bw / 2, bv + bh / 2, 1.0])
                rows["a"].append(crops[0])
                rows["b"].append(crops[1])
                rows["e"].append(crops[2])
                rows["prod_a"].append(a)
                rows["prod_b"].append(b)
                rows["rect"].append(np.concatenate([q0, q1]))
                rows["visible"].append(min(visible, 1.0))
                rows["side_px"].append(side)
                rows["dist_m"].append(z)
                rows["scenario"].append(index)
                rows["store"].append(PRESETS.index(store_name) if store_name in PRESETS else -1)
    return _arrays(rows)


_KEYS = ("a", "b", "e", "prod_a", "prod_b", "rect", "visible", "side_px", "dist_m", "scenario", "store")


def _arrays(rows: dict[str, list]) -> dict[str, np.ndarray]:
    n = len(rows["a"])
    img = (lambda k: np.stack(rows[k]) if n else np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.uint8))
    return {"a": img("a"), "b": img("b"), "e": img("e"),
            "prod_a": np.asarray(rows["prod_a"], np.int32), "prod_b": np.asarray(rows["prod_b"], np.int32),
            "rect": np.asarray(rows["rect"], np.float32).reshape(n, 4),
            "visible": np.asarray(rows["visible"], np.float32), "side_px": np.asarray(rows["side_px"], np.float32),
            "dist_m": np.asarray(rows["dist_m"], np.float32), "scenario": np.asarray(rows["scenario"], np.int32),
            "store": np.asarray(rows["store"], np.int8)}


def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Samples as arrays: a, b, e (n, 64, 64, 3) uint8 crops with product A, its sibling B and none;
    prod_a, prod_b library indices; rect (n, 4) the billboard in crop pixels; visible (share of the
    billboard in view); side_px (crop side in image pixels); dist_m; scenario; store (PRESETS index)."""
    parts = [p for p in parts if len(p["a"])]
    if not parts:
        return _arrays({k: [] for k in _KEYS})
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _job(args) -> dict[str, np.ndarray]:
    seed, index, cfg, lib_seed, lib_dir = args
    return scenario_samples(seed, index, cfg, load_library(lib_seed), Path(lib_dir))


# -- cache ---------------------------------------------------------------------------------------

def cache_dir() -> Path:
    return Path(os.environ.get("WALKOUT_CACHE", Path(tempfile.gettempdir()) / "walkout-cache")) / "products"


def library_key(seed: int, cfg: LibraryConfig = LibraryConfig()) -> str:
    return hashlib.sha1(repr((VERSION, seed, asdict(cfg))).encode()).hexdigest()[:12]


_LIB_MEMO: dict[tuple[int, LibraryConfig], Library] = {}


def load_library(seed: int = 0, cfg: LibraryConfig = LibraryConfig()) -> Library:
    """build_library(), cached as an .npz (and in memory)."""
    if (seed, cfg) in _LIB_MEMO:
        return _LIB_MEMO[(seed, cfg)]
    path = cache_dir() / f"library-seed{seed}-{library_key(seed, cfg)}.npz"
    if path.is_file():
        with np.load(path) as z:
            lib = Library(list(z["skus"]), list(z["families"]), list(z["sources"]), z["split"], z["images"])
    else:
        lib = build_library(seed, cfg)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, skus=np.array(lib.skus), families=np.array(lib.families), sources=np.array(lib.sources),
                 split=lib.split, images=lib.images)
        tmp.rename(path)
    lib.skus, lib.families, lib.sources = [str(s) for s in lib.skus], [str(s) for s in lib.families], \
        [str(s) for s in lib.sources]
    _LIB_MEMO[(seed, cfg)] = lib
    return lib


def generate(seed: int, cfg: GenConfig = GenConfig(), lib_seed: int = 0, workers: int = 2,
             log: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """Samples of cfg.scenarios scenarios, concatenated in scenario order (same seed -> same arrays)."""
    t0 = time.perf_counter()
    load_library(lib_seed)
    lib_dir = cache_dir() / f"library-seed{lib_seed}-{library_key(lib_seed)}-png"
    jobs = [(seed, i, cfg, lib_seed, str(lib_dir)) for i in range(cfg.scenarios)]
    parts: list[dict[str, np.ndarray]] = []

    def note() -> None:
        if log:
            log(f"products dataset seed {seed} ({cfg.split}): scenario {len(parts)}/{len(jobs)}, "
                f"{sum(len(p['a']) for p in parts)} samples, {time.perf_counter() - t0:.0f} s")

    if workers <= 1 or len(jobs) <= 1:
        for j in jobs:
            parts.append(_job(j))
            note()
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as ex:
            for part in ex.map(_job, jobs):
                parts.append(part)
                note()
    return concat(parts)


def load_or_generate(seed: int, cfg: GenConfig = GenConfig(), lib_seed: int = 0, workers: int = 2,
                     log: Callable[[str], None] | None = None) -> dict[str, np.ndarray]:
    """generate(), cached as an .npz keyed by the seeds, the config and the generator's VERSION."""
    path = cache_dir() / f"samples-seed{seed}-{cfg.key(seed, library_key(lib_seed))}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    d = generate(seed, cfg, lib_seed, workers, log)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **d)
    tmp.rename(path)
    return d

