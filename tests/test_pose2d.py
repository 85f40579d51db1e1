"""The engine's 2D pose stage: committed weights, accuracy on fresh renders, crop geometry, odd boxes,
and a reproducible dataset."""
from __future__ import annotations

import numpy as np
import pytest

from engine.pose2d.dataset import GenConfig, concat, frame_crops, scenario_frames
from engine.pose2d.infer import DEFAULT_WEIGHTS, PoseEstimator
from engine.pose2d.model import INPUT_SIZE, crop, crop_affine
from engine.pose2d.train import metrics

# a small validation set the network never saw (its own seed), rendered and H.264-coded like the training data
FRESH_SEED = 4242
FRESH = GenConfig(scenarios=1, clips_per_camera=20, duration_s=(25.0, 25.0), people=(5, 5),
                  stores=("corner-store",), max_cameras=3)
# thresholds: v1 measured PCK@0.1 0.78-0.83, median error 3.9-5.7 px and median wrist error 3.4-4.4 px on
# sets like this one (seeds 4242-4244, 17; MODEL_CARD.md); v2 is better on all three; these leave a margin
MIN_PCK_01 = 0.70
MAX_MEDIAN_ERR_PX = 7.5
MAX_MEDIAN_WRIST_ERR_PX = 6.5


@pytest.fixture(scope="module")
def est() -> PoseEstimator:
    return PoseEstimator(threads=2, split_arms=False)  # the network's own accuracy: plain decoding


@pytest.fixture(scope="module")
def fresh():
    return list(scenario_frames(FRESH_SEED, 0, FRESH))


def test_committed_weights_are_small_and_load(est):
    assert DEFAULT_WEIGHTS.is_file()
    assert DEFAULT_WEIGHTS.stat().st_size < 10e6
    assert est.info["val"]["pck@0.1"] > 0.5  # the training run's own validation, stored with the weights


def test_accuracy_on_freshly_rendered_people(est, fresh):
    data = concat([frame_crops(f) for f in fresh])
    assert len(data["img"]) >= 200
    m = metrics(est.predict_crops(data["img"]), data)
    assert m["pck@0.1"] > MIN_PCK_01, m
    assert m["median_err_px"] < MAX_MEDIAN_ERR_PX, m
    # the arms' sides are multi-view's call (the network is trained side-blind on them): wrists side-blind
    assert m["median_wrist_err_side_blind_px"] < MAX_MEDIAN_WRIST_ERR_PX, m
    assert m["mean_score_visible"] > m["mean_score_occluded"], m


def test_splitting_arm_twins_finds_both_hands(fresh):
    """Seen from above both wrist heatmaps often peak on one hand; the split finds the other one.

    Measured side-blind (the split cannot know which hand is the left one; the multi-view stage
    decides that): fewer collapsed pairs, and both hands nearer the truth."""
    data = concat([frame_crops(f) for f in fresh])
    plain = PoseEstimator(threads=2, split_arms=False).predict_crops(data["img"])
    split = PoseEstimator(threads=2, split_arms=True).predict_crops(data["img"])
    vis = data["vis"][:, 9] & data["vis"][:, 10]
    truth = data["kp"][vis][:, [9, 10], :2]

    def side_blind(pred: np.ndarray) -> tuple[float, float]:
        p = pred[vis][:, [9, 10], :2]
        keep = np.linalg.norm(p - truth, axis=2).sum(1)
        swap = np.linalg.norm(p[:, ::-1] - truth, axis=2).sum(1)
        collapsed = float(np.mean(np.linalg.norm(p[:, 0] - p[:, 1], axis=1) < 3.0))
        return float(np.median(np.minimum(keep, swap) / 2)), collapsed

    (e_plain, c_plain), (e_split, c_split) = side_blind(plain), side_blind(split)
    # (the side-blind v2 network rarely collapses a pair at all: then there is nothing left to split, and
    # the split must not make anything worse; test_split_separates_twin_peaks shows the split itself)
    assert c_split <= c_plain / 2, (c_plain, c_split)
    assert e_split <= e_plain, (e_plain, e_split)


def test_split_separates_twin_peaks():
    """Both wrist heatmaps peak on one hand, and their combined map has the other hand as a clear second
    peak: the split puts one wrist on each hand, the one each heatmap prefers."""
    import torch

    from engine.pose2d.model import HEATMAP_SIZE, STRIDE, decode, heatmap_targets, separate_pairs

    def at(cell: tuple[float, float]) -> list[float]:
        return [cell[0] * STRIDE + (STRIDE - 1) / 2, cell[1] * STRIDE + (STRIDE - 1) / 2]

    kp = torch.full((1, 17, 2), float("nan"))
    hand_a, hand_b = (8.0, 20.0), (22.0, 12.0)
    kp[0, 9] = torch.tensor(at(hand_a))
    kp[0, 10] = torch.tensor(at(hand_a))
    hm = heatmap_targets(kp, size=HEATMAP_SIZE)
    other = heatmap_targets(torch.tensor([[at(hand_b)]]), size=HEATMAP_SIZE)[0, 0]
    hm[0, 10] = torch.maximum(hm[0, 10] * 0.9, other * 0.6)  # the right wrist's map also sees hand b
    uv, peak = decode(hm)
    assert torch.allclose(uv[0, 9], uv[0, 10], atol=1.0)  # collapsed onto hand a
    uv2, _ = separate_pairs(hm, uv, peak)
    assert torch.allclose(uv2[0, 9], torch.tensor(at(hand_a)), atol=1.0)
    assert torch.allclose(uv2[0, 10], torch.tensor(at(hand_b)), atol=1.0)


def test_predict_gives_image_pixels(est, fresh):
    frames = [f for f in fresh if f.people]
    per_frame = est.predict_batch([(f.rgb, [p.box for p in f.people]) for f in frames])
    errs = []
    for f, kps in zip(frames, per_frame):
        assert kps.shape == (len(f.people), 17, 3)
        for pv, k in zip(f.people, kps):
            errs.append(np.linalg.norm(k[pv.vis, :2] - pv.uv[pv.vis], axis=1))
    assert np.median(np.concatenate(errs)) < MAX_MEDIAN_ERR_PX
    # one frame alone gives the same as in a batch with others
    one = est.predict(frames[0].rgb, [p.box for p in frames[0].people])
    np.testing.assert_allclose(one, per_frame[0], atol=1e-3)


def test_crop_keeps_pixel_centres():
    img = np.zeros((120, 160, 3), np.uint8)
    u, v = 97, 31
    img[v - 1:v + 2, u - 1:u + 2] = 255  # a 3x3 dot centred on pixel (97, 31)
    for box in [(60, 10, 130, 60), (90, 0, 160, 40), (95, 29, 100, 34), (0, 0, 160, 120)]:
        c, M, a = crop(img, box)
        assert c.shape == (INPUT_SIZE, INPUT_SIZE, 3)
        w = c[..., 0].astype(float)
        ii, jj = np.mgrid[:INPUT_SIZE, :INPUT_SIZE]
        found = np.array([(w * jj).sum(), (w * ii).sum()]) / w.sum()
        want = M[:, :2] @ [u, v] + M[:, 2]
        assert np.abs(found - want).max() < 0.6 + 0.15 / a, (box, found, want)
    M, a = crop_affine((10, 20, 50, 100))
    assert a == pytest.approx(80 * 1.25 / INPUT_SIZE)
    np.testing.assert_allclose(M[:, :2] @ [29.5, 59.5] + M[:, 2], [(INPUT_SIZE - 1) / 2] * 2)  # box centre


def test_odd_boxes_do_not_crash(est, fresh):
    img = fresh[0].rgb
    H, W = img.shape[:2]
    boxes = [(0, 0, 40, 90), (W - 30, H - 60, W, H), (-20, -20, 30, 60), (W - 10, 100, W + 50, 220),
             (100, 100, 103, 104), (200, 200, 200, 200), (300, 300, 290, 310), (W + 10, H + 10, W + 90, H + 90),
             (10.5, 20.25, 60.75, 140.0), (0, 0, W, H)]
    k = est.predict(img, boxes)
    assert k.shape == (len(boxes), 17, 3) and k.dtype == np.float32
    assert np.isfinite(k).all()
    assert (k[..., 2] >= 0).all() and (k[..., 2] <= 1).all()
    assert (k[5, :, 2] == 0).all() and (k[6, :, 2] == 0).all()  # no area: nothing found
    for i in (0, 1, 2, 3, 4, 8, 9):  # keypoints stay within the crop around their box
        x0, y0, x1, y1 = boxes[i]
        side = max(max(x1 - x0, y1 - y0) * 1.25, 12)
        cu, cv = (x0 + x1) / 2, (y0 + y1) / 2
        assert (np.abs(k[i, :, 0] - cu) <= side / 2 + 1).all() and (np.abs(k[i, :, 1] - cv) <= side / 2 + 1).all()
    assert est.predict(img, []).shape == (0, 17, 3)
    assert [a.shape for a in est.predict_batch([(img, []), (img[..., 0], [(5, 5, 50, 90)])])] == [(0, 17, 3),
                                                                                                 (1, 17, 3)]


def test_dataset_is_reproducible_from_its_seed():
    cfg = GenConfig(scenarios=1, clips_per_camera=2, duration_s=(15.0, 15.0), people=(2, 2),
                    stores=("corner-store",), max_cameras=1, h264=True)

    def first(seed: int, n: int = 3):
        out = []
        for f in scenario_frames(seed, 0, cfg):
            out.append(frame_crops(f))
            if sum(len(o["img"]) for o in out) >= n:
                break
        return concat(out)

    a, b = first(7), first(7)
    assert len(a["img"]) >= 1
    for k in a:
        np.testing.assert_array_equal(np.nan_to_num(a[k]), np.nan_to_num(b[k]))


def test_side_blind_arm_loss_forgives_a_swapped_arm_and_nothing_else():
    import torch

    from engine.pose2d.train import ARM_SWAP, heatmap_loss

    g = torch.Generator().manual_seed(0)
    hm_t = torch.rand(4, 17, 32, 32, generator=g)
    w = torch.ones(4, 17)
    swapped = hm_t[:, ARM_SWAP].clone()
    # a prediction with the arms' sides exchanged is perfect side-blind, and penalised by label
    assert float(heatmap_loss(swapped, hm_t, w, True)) == pytest.approx(0.0, abs=1e-6)
    assert float(heatmap_loss(swapped, hm_t, w, False)) > 1.0
    # both wrists on one hand is not forgiven: the other hand is missed under either labelling
    both = hm_t.clone()
    both[:, 10] = hm_t[:, 9]
    assert float(heatmap_loss(both, hm_t, w, True)) > 0.1
    # a wrong leg is not forgiven either (only the arms are side-blind)
    legs = hm_t.clone()
    legs[:, [15, 16]] = hm_t[:, [16, 15]]
    assert float(heatmap_loss(legs, hm_t, w, True)) == pytest.approx(float(heatmap_loss(legs, hm_t, w, False)))


# stories with hand-overs, half the clips while both shoppers hold a hand out (as the training's HANDOVER_CONFIG)
HANDOVER_FRESH = GenConfig(scenarios=1, clips_per_camera=12, duration_s=(30.0, 30.0), people=(4, 4),
                           stores=("corner-store",), max_cameras=3, handovers=(2, 2), handover_clips=0.5)
# v3 measured 2.3 / 3.3 px (v2: 2.4 / 4.8) on the held-out wrists of seeds 4242 / 4243 (MODEL_CARD.md)
MAX_HANDOVER_WRIST_ERR_PX = 5.0


def test_handover_clips_catch_both_shoppers_with_a_hand_out():
    frames = list(scenario_frames(FRESH_SEED, 0, HANDOVER_FRESH))
    flagged = [(f, pv) for f in frames for pv in f.people if pv.hand_over]
    assert len(flagged) >= 20
    data = concat([frame_crops(f) for f in frames])
    assert int(data["hand_over"].sum()) == len(flagged)
    # without the share, no clip is started for a hand-over: far fewer people caught in one
    plain = GenConfig(**{**HANDOVER_FRESH.__dict__, "handover_clips": 0.0})
    n_plain = sum(pv.hand_over for f in scenario_frames(FRESH_SEED, 0, plain) for pv in f.people)
    assert n_plain < len(flagged) / 3, (n_plain, len(flagged))


def test_held_out_wrists_in_a_hand_over_are_found(est):
    from engine.pose2d.train import metrics as pose_metrics

    data = concat([frame_crops(f) for f in scenario_frames(FRESH_SEED, 0, HANDOVER_FRESH)])
    m = pose_metrics(est.predict_crops(data["img"]), data)
    assert m["median_handover_wrist_err_side_blind_px"] < MAX_HANDOVER_WRIST_ERR_PX, m
