"""The synthetic store's story: receipts worked out by hand, impossible scenarios rejected,
and bodies that behave (fixed limbs, feet on the floor, wrists in the bin, nobody walks through anybody)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.choreography import SEPARATION, choreograph
from data.errors import ScenarioError
from data.scenario import parse_scenario
from data.store import read_store_dir
from data.world import L_WRIST, LIMBS, R_WRIST


def run(store_dir: Path, people: list[dict], duration: float = 60, faults: list | None = None, seed: int = 1):
    store, catalog = read_store_dir(store_dir)
    sc = parse_scenario({"format": "walkout-scenario/1", "seed": seed, "duration_s": duration, "store": "./s",
                         "people": people, "faults": faults or []}, Path("."))
    return choreograph(sc, store, catalog, {"cam-01"}), store


def receipt(world, account: str) -> dict[str, int]:
    v = next(v for v in world.visits if v["account"] == account)
    return {line["sku"]: line["qty"] for line in v["lines"]}


def test_take_and_put_back(tiny_store_dir):
    w, _ = run(tiny_store_dir, [{"id": "p1", "account": "a1", "enter_at": 1, "actions": [
        {"do": "take", "bin": "A-1-01", "qty": 2}, {"do": "put", "bin": "A-1-01", "qty": 1}]}])
    assert receipt(w, "a1") == {"sku-cola": 1}
    kinds = [(e["kind"], e["bin"], e["qty"]) for e in w.events]
    assert kinds == [("take", "A-1-01", 1), ("take", "A-1-01", 1), ("put", "A-1-01", 1)]


def test_misplaced_return_is_taken_later_by_someone_else(tiny_store_dir):
    w, _ = run(tiny_store_dir, [
        {"id": "p1", "account": "a1", "enter_at": 1, "actions": [
            {"do": "take", "bin": "A-1-03"}, {"do": "put", "bin": "B-1-03", "sku": "sku-chips"}]},
        {"id": "p2", "account": "a2", "enter_at": 20, "actions": [
            {"do": "take", "bin": "B-1-03", "sku": "sku-chips"}]}])
    assert receipt(w, "a1") == {}
    assert receipt(w, "a2") == {"sku-chips": 1}
    put = next(e for e in w.events if e["kind"] == "put")
    assert (put["bin"], put["sku"]) == ("B-1-03", "sku-chips")
    assert w.stock_at("B-1-03", 59) == 6  # the soap bin holds its 6 soaps again, chips gone


def test_hand_over_within_a_party(tiny_store_dir):
    w, _ = run(tiny_store_dir, [
        {"id": "p1", "account": "fam", "enter_at": 1, "actions": [
            {"do": "take", "bin": "B-1-01"}, {"do": "hand_over", "to": "p2", "sku": "sku-water"}]},
        {"id": "p2", "account": "fam", "enter_at": 1, "actions": [{"do": "receive", "from": "p1"}]}])
    assert len(w.visits) == 1 and w.visits[0]["people"] == ["p1", "p2"]
    assert receipt(w, "fam") == {"sku-water": 1}
    ho = next(e for e in w.events if e["kind"] == "hand_over")
    assert (ho["person"], ho["to"], ho["to_account"]) == ("p1", "p2", "fam")
    # the unit ends in p2's hand
    assert [h.person for h in w.held if h.t1 == np.inf] == ["p2"]


def test_hand_over_across_parties_moves_the_item_to_the_receivers_receipt(tiny_store_dir):
    w, _ = run(tiny_store_dir, [
        {"id": "p1", "account": "a1", "enter_at": 1, "actions": [
            {"do": "take", "bin": "B-1-02"}, {"do": "take", "bin": "A-1-01"},
            {"do": "hand_over", "to": "p3", "sku": "sku-bar"}]},
        {"id": "p3", "account": "a2", "enter_at": 2, "actions": [{"do": "receive", "from": "p1"}]}])
    assert receipt(w, "a1") == {"sku-cola": 1}
    assert receipt(w, "a2") == {"sku-bar": 1}


def test_associates_restock_and_get_no_visit(tiny_store_dir):
    w, _ = run(tiny_store_dir, [
        {"id": "s1", "role": "associate", "account": "staff-01", "enter_at": 1, "actions": [
            {"do": "restock", "bin": "A-1-02", "qty": 2}]},
        {"id": "p1", "account": "a1", "enter_at": 3, "actions": [{"do": "take", "bin": "A-1-02"}]}])
    assert [v["account"] for v in w.visits] == ["a1"]
    assert receipt(w, "a1") == {"sku-lime": 1}
    assert [e["kind"] for e in w.events].count("restock") == 2
    assert w.stock_at("A-1-02", 59) == 6 + 2 - 1
    assert any(s["role"] == "associate" for s in w.gate_scans)


def test_touch_changes_nothing(tiny_store_dir):
    w, _ = run(tiny_store_dir, [{"id": "p1", "account": "a1", "enter_at": 1, "actions": [
        {"do": "touch", "bin": "A-1-01", "s": 2.0}]}])
    assert receipt(w, "a1") == {}
    assert w.events == []
    assert [h.bin for h in w.hands_in_bins] == ["A-1-01"]
    assert w.hands_in_bins[0].t_out - w.hands_in_bins[0].t_in == pytest.approx(2.0)


def test_party_enters_on_one_scan_at_the_earliest_time(tiny_store_dir):
    w, _ = run(tiny_store_dir, [
        {"id": "p1", "account": "fam", "enter_at": 5, "actions": []},
        {"id": "p2", "account": "fam", "enter_at": 3, "actions": []}])
    assert w.gate_scans == [{"t": 3.0, "gate": "in-1", "kind": "entry", "account": "fam", "party_size": 2,
                             "role": "shopper"}]


@pytest.mark.parametrize("people, duration, faults, words", [
    ([{"id": "p1", "account": "a", "actions": [{"do": "take", "bin": "A-1-01", "qty": 7}]}], 90, [],
     ["person p1, action 1", "A-1-01", "no sku-cola left"]),
    ([{"id": "p1", "account": "a", "actions": [{"do": "put", "bin": "A-1-01"}]}], 60, [],
     ["person p1, action 1", "holds none"]),
    ([{"id": "p1", "account": "a", "actions": [{"do": "take", "bin": "Z-9"}]}], 60, [],
     ["person p1, action 1", "unknown bin 'Z-9'"]),
    ([{"id": "p1", "account": "a", "actions": [{"do": "hand_over", "to": "p2", "sku": "sku-cola"}]},
      {"id": "p2", "account": "b", "actions": []}], 60, [], ["person p1, action 1", "no matching"]),
    ([{"id": "p1", "account": "a", "actions": [{"do": "take", "bin": "A-1-01"},
                                                 {"do": "hand_over", "to": "p2", "sku": "sku-cola"},
                                                 {"do": "receive", "from": "p2"}]},
      {"id": "p2", "account": "b", "actions": [{"do": "take", "bin": "A-1-02"},
                                                 {"do": "hand_over", "to": "p1", "sku": "sku-lime"},
                                                 {"do": "receive", "from": "p1"}]}], 60, [],
     ["wait on each other"]),
    ([{"id": "p1", "account": "a", "actions": [{"do": "take", "bin": "A-1-01"}, {"do": "take", "bin": "B-1-03"},
                                                 {"do": "wait", "s": 30}]}], 20, [],
     ["person p1", "must be out by duration_s=20"]),
    ([{"id": "p1", "account": "a", "actions": []}], 60, [{"kind": "camera_blackout", "camera": "cam-9",
                                                         "from": 1, "to": 2}], ["unknown camera 'cam-9'"]),
    ([{"id": "p1", "account": "a", "actions": [{"do": "restock", "bin": "A-1-01"}]}], 60, [],
     ["only associates restock"]),
    ([{"id": "p1", "account": "a", "actions": [{"do": "walk", "to": [3.0, 1.2]}]}], 60, [],
     ["person p1, action 1", "not free floor"]),
])
def test_impossible_scenarios_are_rejected_with_a_clear_message(tiny_store_dir, people, duration, faults, words):
    with pytest.raises(ScenarioError) as e:
        run(tiny_store_dir, people, duration, faults)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


@pytest.fixture(scope="module")
def busy_world(tiny_store_dir):
    people = []
    bins = ["A-1-01", "A-1-02", "A-1-03", "B-1-01", "B-1-02", "B-1-03"]
    for i in range(6):
        people.append({"id": f"p{i + 1}", "account": f"a{i + 1}", "enter_at": 1 + 1.5 * i, "actions": [
            {"do": "take", "bin": bins[i]}, {"do": "take", "bin": bins[(i + 3) % 6]}]})
    # two people reaching into one load cell at the same moment
    people.append({"id": "q1", "account": "q1", "enter_at": 2, "actions": [{"do": "take", "bin": "A-1-01", "at": 12}]})
    people.append({"id": "q2", "account": "q2", "enter_at": 2, "actions": [{"do": "take", "bin": "A-1-02", "at": 12}]})
    return run(tiny_store_dir, people, duration=60)


def test_limbs_keep_their_lengths_and_feet_stay_on_the_floor(busy_world):
    w, _ = busy_world
    for p in range(len(w.people)):
        j = w.joints[:, p]
        ok = np.isfinite(j[:, 0, 0])
        for a, b in LIMBS:
            length = np.linalg.norm(j[ok, a] - j[ok, b], axis=1)
            assert length.max() - length.min() < 1e-3, (w.people[p].id, a, b)
        ankles = j[ok][:, 15:17, 2]
        assert ankles.min() > 0.05 and ankles.max() < 0.2
        assert (ankles.min(axis=1) < 0.1).all()  # at least one foot down at every moment


def test_nobody_walks_through_anybody(busy_world):
    w, _ = busy_world
    centre = w.joints[:, :, 15:17, :2].mean(axis=2)  # between the feet: where the body stands
    P = centre.shape[1]
    for a in range(P):
        for b in range(a + 1, P):
            d = np.linalg.norm(centre[:, a] - centre[:, b], axis=1)
            d = d[np.isfinite(d)]
            if len(d):
                assert d.min() >= SEPARATION - 0.02, (w.people[a].id, w.people[b].id, d.min())


def test_nobody_walks_through_shelves(busy_world):
    w, store = busy_world
    centre = w.joints[:, :, 11:13, :2].mean(axis=2).reshape(-1, 2)
    centre = centre[np.isfinite(centre).all(1)]
    for s in store.shelves:
        inside = ((centre[:, 0] > s.min[0] - 0.15) & (centre[:, 0] < s.max[0] + 0.15)
                  & (centre[:, 1] > s.min[1] - 0.15) & (centre[:, 1] < s.max[1] + 0.15))
        assert not inside.any(), s.id


def test_wrists_are_in_the_bin_when_the_load_changes(busy_world):
    w, store = busy_world
    for e in w.events:
        b = store.bin_by_id[e["bin"]]
        k = int(np.argmin(np.abs(w.times - e["t"])))
        j = w.joints[k, w.person_index(e["person"])]
        lo, hi = np.array(b.min) - 0.02, np.array(b.max) + 0.02
        inside = [bool(np.all((j[i] >= lo) & (j[i] <= hi))) for i in (L_WRIST, R_WRIST)]
        assert any(inside), (e, j[L_WRIST], j[R_WRIST], b)


def test_simultaneous_reaches_happen_at_the_same_moment(busy_world):
    w, _ = busy_world
    tq = {e["person"]: e["t"] for e in w.events if e["person"] in ("q1", "q2")}
    assert abs(tq["q1"] - tq["q2"]) < 0.05
    assert 12.5 < tq["q1"] < 13.5  # the reach begins at `at`; the load changes about a second later


def test_the_fast_floor_checks_give_the_point_by_point_answers():
    """FloorGrid's is_free and segment_free are written for speed (the simulator asks millions of times); they
    must answer exactly as the plain point-by-point checks do, or recordings would change."""
    from data.navigation import CELL, FloorGrid
    from data.store_source import load_store

    grid = FloorGrid.from_store(load_store("corner-store")[0])
    h, w = grid.free.shape

    def free_slow(xy):
        j = int(np.clip((xy[0] - grid.x0) / CELL, 0, w - 1))
        i = int(np.clip((xy[1] - grid.y0) / CELL, 0, h - 1))
        inside = 0 <= (xy[0] - grid.x0) / CELL < w and 0 <= (xy[1] - grid.y0) / CELL < h
        return bool(inside and grid.free[i, j])

    rng = np.random.default_rng(0)
    lo, hi = np.array([grid.x0 - 0.5, grid.y0 - 0.5]), np.array([grid.x0 + w * CELL + 0.5, grid.y0 + h * CELL + 0.5])
    pts = rng.uniform(lo, hi, (4000, 2))
    assert [grid.is_free(p) for p in pts] == [free_slow(p) for p in pts]
    for a, b in zip(pts[:1000], pts[1000:2000] * 0.2 + pts[:1000] * 0.8):  # short and long segments, some outside
        n = max(2, int(np.linalg.norm(b - a) / (CELL * 0.5)) + 1)
        assert grid.segment_free(a, b) == all(free_slow(a + (b - a) * s) for s in np.linspace(0, 1, n))
    assert any(grid.segment_free(a, b) for a, b in zip(pts[:1000], pts[1000:2000] * 0.2 + pts[:1000] * 0.8))
