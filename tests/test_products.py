"""The product classifier (engine/products): network, data generation, committed weights, crops, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from data.cameras import Camera
from data.errors import InputError
from data.store_source import load_store
from engine.products.dataset import (
    GenConfig,
    Library,
    catalog_rows,
    flat_looks,
    random_looks,
    scenario_samples,
)
from engine.products.infer import ProductClassifier, ProductWeightsError, hand_crops
from engine.products.model import EMBED_DIM, INPUT_SIZE, ProductNet, catalog_input


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _library(rows, split: str = "train", source: str = "test") -> Library:
    return Library([r[0] for r in rows], [r[1] for r in rows], [source] * len(rows), np.array([split] * len(rows)),
                   np.stack([r[2] for r in rows]))


def _pinhole(w: int = 640, h: int = 480, f: float = 300.0) -> Camera:
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])
    return Camera("cam-t", w, h, 15.0, K, np.zeros(5), np.eye(3), np.zeros(3))


def test_network_shapes_and_unit_embeddings():
    net = ProductNet().eval()
    x = torch.randint(0, 256, (3, 3, INPUT_SIZE, INPUT_SIZE)).float()
    with torch.no_grad():
        e = net(x)
    assert e.shape == (3, EMBED_DIM)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    pic = np.zeros((128, 96, 3), np.uint8)
    pic[:] = (200, 30, 30)
    inp = catalog_input(pic)
    assert inp.shape == (INPUT_SIZE, INPUT_SIZE, 3) and inp.dtype == np.uint8
    assert tuple(inp[32, 32]) == (200, 30, 30) and tuple(inp[2, 2]) == (128, 128, 128)


def test_generated_catalogs_and_samples_are_reproducible(tiny_store_dir, tmp_path):
    a, b = random_looks(5, 4), random_looks(5, 4)
    assert [r[:2] for r in a] == [r[:2] for r in b] and all((x[2] == y[2]).all() for x, y in zip(a, b))
    assert [r[0] for r in flat_looks(5, 3)] == [r[0] for r in flat_looks(5, 3)]
    assert [r[0] for r in random_looks(6, 4)] != [r[0] for r in a] or not all(
        (x[2] == y[2]).all() for x, y in zip(random_looks(6, 4), a))
    lib = _library(a + flat_looks(5, 3))
    cfg = GenConfig(scenarios=1, times_per_camera=4, max_cameras=1, stores=(str(tiny_store_dir.resolve()),))
    s1 = scenario_samples(3, 0, cfg, lib, tmp_path / "png")
    s2 = scenario_samples(3, 0, cfg, lib, tmp_path / "png")
    assert len(s1["a"]) > 0
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k], err_msg=k)
    # A and B are different products of one family (or another product when A has no sibling)
    assert (s1["prod_a"] != s1["prod_b"]).all()


@pytest.fixture(scope="module")
def tiny_samples(tiny_store_dir, tmp_path_factory):
    """In-hand crops rendered by the simulator in the tiny store, every carried product shown as cola
    and then as lime (its look-alike) at the same moment."""
    store_name = str(tiny_store_dir.resolve())
    _, cat = load_store(store_name)
    lib = _library([r for r in catalog_rows(cat, "tiny") if r[0] in ("sku-cola", "sku-lime")])
    cfg = GenConfig(scenarios=1, times_per_camera=12, max_cameras=3, stores=(store_name,))
    d = scenario_samples(7, 0, cfg, lib, tmp_path_factory.mktemp("tiny-png"))
    return cat, lib, d


def test_committed_weights_tell_tiny_store_lookalikes_apart(tiny_store_dir, tiny_samples):
    """A guard on the committed weights in a store they never saw: products_v1.pt reads 0.71 of these crops
    right (chance 0.5; held products are 5-20 px). Issue 4's bar (0.97) is measured by bench_products, on the
    engine's own crops; this fails when the weights or the crops get worse."""
    cat, lib, d = tiny_samples
    assert len(d["a"]) >= 10, "too few in-hand crops rendered"
    clf = ProductClassifier(tiny_store_dir / "catalog", cat, threads=1)
    cands = ["sku-cola", "sku-lime"]
    crops = np.concatenate([d["a"], d["b"]])
    truth = np.array([cands.index(lib.skus[i]) for i in np.concatenate([d["prod_a"], d["prod_b"]])])
    p = clf.scores(list(crops), cands)
    assert p.shape == (len(crops), 2)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    acc = float((p.argmax(1) == truth).mean())
    assert acc >= 0.65, f"look-alike top-1 {acc:.3f} on {len(crops)} crops"
    with pytest.raises(InputError, match="sku-nope"):
        clf.scores(list(crops[:1]), ["sku-cola", "sku-nope"])


def test_hand_crops_at_the_image_border():
    cam = _pinhole()
    f = cam.K[0, 0]
    z = 3.0
    # a hand 3 px from the left edge, one well inside, one outside, one not finite
    pts = np.array([[(3 - cam.K[0, 2]) * z / f, 0.0, z], [0.0, 0.0, z], [-(400.0) * z / f, 0.0, z],
                    [np.nan, 0.0, z]])
    rgb = np.full((cam.height, cam.width, 3), 200, np.uint8)
    hc = hand_crops(rgb, cam, pts)
    assert hc.images.shape == (4, INPUT_SIZE, INPUT_SIZE, 3)
    assert hc.inside.tolist() == [True, True, False, False]
    side = 0.36 * f / z
    np.testing.assert_allclose(hc.side_px[:3], side, rtol=1e-6)
    # at the border the crop is half image (grey) and half black beyond it
    left, right = hc.images[0, :, :24], hc.images[0, :, 29:]
    assert left.max() == 0 and (right == 200).all()
    assert (hc.images[1] == 200).all()
    assert hc.images[3].max() == 0 and np.isnan(hc.uv[3]).all()
    # a fixed pixel size and elbows (the crop moves beyond the wrist, along the forearm)
    hc2 = hand_crops(rgb, cam, pts[1:2], size_px=50, elbows3d=pts[1:2] - [0.3, 0.0, 0.0])
    assert hc2.side_px[0] == 50 and hc2.uv[0, 0] > hc.uv[1, 0] + 5


def test_missing_or_broken_weights_give_a_clear_error(tiny_store_dir, tmp_path):
    _, cat = load_store(str(tiny_store_dir.resolve()))
    with pytest.raises(ProductWeightsError, match="not found"):
        ProductClassifier(tiny_store_dir / "catalog", cat, weights=tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a torch file")
    with pytest.raises(ProductWeightsError, match="cannot be loaded"):
        ProductClassifier(tiny_store_dir / "catalog", cat, weights=bad)
    other = tmp_path / "other.pt"
    torch.save({"format": "walkout-pose2d/1", "state_dict": {}}, other)
    with pytest.raises(InputError, match="not a walkout product model"):
        ProductClassifier(tiny_store_dir / "catalog", cat, weights=other)
