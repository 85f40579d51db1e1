"""engine.looks: which parties a hand may belong to, by the linker's account and the body's look."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from engine.looks import PartyOwners
from engine.run import TrackInfo


def _run(tmp_path: Path, tracks: list[TrackInfo], duration_s: float = 60.0) -> SimpleNamespace:
    t = np.arange(0.0, duration_s, 0.2)
    return SimpleNamespace(root=tmp_path, t=t, people=np.array([tr.id for tr in tracks]),
                           floor=np.full((len(t), len(tracks), 2), np.nan), tracks=tracks)


def _track(id: str, account: str | None, t0: float, t1: float, exited: bool, born: bool = True) -> TrackInfo:
    return TrackInfo(id, account, "shopper" if account else "unknown", None, born, exited, t0, t1)


def test_a_party_whose_track_was_lost_stays_a_candidate_until_the_end(tmp_path: Path) -> None:
    """A shopper whose track was lost mid-floor is still in the store, however long after: a track born there
    later with no account may be theirs (the old span closed 15 s after the lost track ended)."""
    tracks = [_track("t001", "a", 1.0, 20.0, exited=False),  # lost at 20 s
              _track("t002", "b", 2.0, 58.0, exited=True),
              _track("t003", None, 25.0, 58.0, exited=True, born=False)]  # born mid-floor, no account
    owners = PartyOwners(_run(tmp_path, tracks), [("v-a", 1.0, [0]), ("v-b", 2.0, [1])], {0: "v-a", 1: "v-b"}, ())
    got = dict(owners(2, 50.0))
    assert set(got) == {"v-a", "v-b"} and abs(got["v-a"] - 0.5) < 1e-9


def test_a_party_seen_leaving_is_no_candidate_after(tmp_path: Path) -> None:
    tracks = [_track("t001", "a", 1.0, 20.0, exited=True),
              _track("t002", "b", 2.0, 58.0, exited=True),
              _track("t003", None, 25.0, 58.0, exited=True, born=False)]
    owners = PartyOwners(_run(tmp_path, tracks), [("v-a", 1.0, [0]), ("v-b", 2.0, [1])], {0: "v-a", 1: "v-b"}, ())
    assert dict(owners(2, 50.0)) == {"v-b": 1.0}


def test_a_party_with_a_member_never_tracked_stays_a_candidate(tmp_path: Path) -> None:
    """Two scanned in, one track: the untracked member may be the body a later mid-floor track follows."""
    tracks = [_track("t001", "a", 1.0, 20.0, exited=True),
              _track("t002", "b", 2.0, 58.0, exited=True),
              _track("t003", None, 25.0, 58.0, exited=True, born=False)]
    owners = PartyOwners(_run(tmp_path, tracks), [("v-a", 1.0, [0]), ("v-b", 2.0, [1])], {0: "v-a", 1: "v-b"}, (),
                         {"v-a": 2, "v-b": 1})
    assert set(dict(owners(2, 50.0))) == {"v-a", "v-b"}


def _write_looks(root: Path, run: SimpleNamespace, looks: dict[int, list[tuple[float, float, list[float]]]]) -> None:
    """looks.npz rows: per track, (from s, to s, look) over every tick in that stretch, at the track's floor point."""
    tick, xy, look = [], [], []
    for k, spans in looks.items():
        for a, b, v in spans:
            for i in np.flatnonzero((run.t >= a) & (run.t < b)):
                tick.append(i)
                xy.append(run.floor[i, k])
                look.append(v)
    np.savez(root / "looks.npz", tick=np.array(tick), xy=np.array(xy), look=np.array(look, float))


def test_an_associate_track_that_took_over_a_shopper_is_weighed_by_its_look(tmp_path: Path) -> None:
    """Shopper a (look [1, 0, 0] at the gate) and an associate (look [0, 1, 0]) far apart. After a tangle the
    associate's track follows a body that looks like a: its hand is a's with prior 0.08 (the linker's own account,
    the associate, keeps 0.92) x look 1.0, against the associate's 0.92 x 0.05 (the look's floor, the distance
    being sqrt 2): a at 0.08 / 0.126 = 0.635. The associate's own look keeps its hand on no receipt."""
    shopper = TrackInfo("t001", "a", "shopper", 0, True, True, 1.0, 58.0)
    staff = TrackInfo("t002", "staff-1", "associate", 1, True, True, 1.0, 58.0)
    run = _run(tmp_path, [shopper, staff])
    run.floor[:, 0] = (0.0, 0.0)
    run.floor[:, 1] = (3.0, 0.0)
    a, s = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]
    _write_looks(tmp_path, run, {0: [(1.0, 5.0, a)], 1: [(1.0, 5.0, s), (20.0, 40.0, a)]})
    owners = PartyOwners(run, [("v-a", 1.0, [0])], {0: "v-a"}, ())
    got = dict(owners(1, 30.0))
    assert got["v-a"] == pytest.approx(0.08 / (0.08 + 0.92 * 0.05), abs=1e-6)
    assert got[None] == pytest.approx(0.92 * 0.05 / (0.08 + 0.92 * 0.05), abs=1e-6)
    assert dict(owners(1, 6.0))[None] == pytest.approx(0.92 / (0.92 + 0.08 * 0.05), abs=1e-6)  # its own look


def test_a_party_seen_leaving_stays_a_candidate_for_the_track_it_was_tangled_with(tmp_path: Path) -> None:
    """Shopper a's track tangles with b's at 20-22 s and exits at 30 s: it may have been b who went out, a still
    in the store under b's track. After 30 s a stays a candidate for b's track only."""
    ta = TrackInfo("t001", "a", "shopper", 0, True, True, 1.0, 30.0, tangled=[(20.0, 22.0, "t002")])
    tb = TrackInfo("t002", "b", "shopper", 1, True, True, 2.0, 58.0, tangled=[(20.0, 22.0, "t001")])
    tc = TrackInfo("t003", "c", "shopper", 2, True, True, 3.0, 58.0)
    owners = PartyOwners(_run(tmp_path, [ta, tb, tc]), [("v-a", 1.0, [0]), ("v-b", 2.0, [1]), ("v-c", 3.0, [2])],
                         {0: "v-a", 1: "v-b", 2: "v-c"}, ())
    assert dict(owners(1, 50.0)) == pytest.approx({"v-b": 0.92, "v-a": 0.04, "v-c": 0.04})
    assert dict(owners(2, 50.0)) == pytest.approx({"v-c": 0.92, "v-b": 0.08})


def test_looks_from_before_a_tangle_count_as_much_as_the_linker_was_sure_the_track_kept_its_body(tmp_path: Path) -> None:
    """b's track (look [0, 1, 0] at the gate) tangles with a's at 26-28 s; the linker's decision at 29 s is ambiguous
    (P(swap) 0.2). Its only clean looks near 30 s are from before the tangle and look like a: the look is b's body's
    with chance 0.8 only, and else says nothing. b: 0.92 x (0.8 x 0.05 + 0.2) = 0.2208, a: 0.08 x 1 (it was
    0.08 x 1 against 0.92 x 0.05 without the tangle): a at 0.08 / 0.3008. A clear keep (margin 4x the threshold:
    P(swap) 0.1 / (1 + 2^1.5)) leaves the look almost all its weight; looks from after the tangle, nearer in time, win
    the weighted median over those from before."""
    from engine.looks import swap_probability
    decision = {"t": 29.0, "tracks": ["t001", "t002"], "t_swap": 27.0, "mapping": {}, "swapped": False,
                "margin": 0.0, "ambiguous": True, "margins": {"t001": 0.0, "t002": 0.0}, "threshold": 0.15}
    clear = {**decision, "ambiguous": False, "margin": 0.6, "margins": {"t001": 0.6, "t002": 0.6}}
    assert swap_probability(decision, "t002") == pytest.approx(0.2)
    assert swap_probability(clear, "t002") == pytest.approx(0.1 / (1 + 2 ** 1.5))

    def owners_with(d: dict, looks_b: list) -> PartyOwners:
        ta = TrackInfo("t001", "a", "shopper", 0, True, True, 1.0, 58.0, tangled=[(26.0, 28.0, "t002")], reid=[d])
        tb = TrackInfo("t002", "b", "shopper", 1, True, True, 1.0, 58.0, tangled=[(26.0, 28.0, "t001")], reid=[d])
        run = _run(tmp_path, [ta, tb])
        run.floor[:, 0] = (0.0, 0.0)
        run.floor[:, 1] = (3.0, 0.0)
        a, b = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]
        _write_looks(tmp_path, run, {0: [(1.0, 5.0, a)], 1: [(1.0, 5.0, b)] + [(s, e, a if s < 26 else b) for s, e in looks_b]})
        return PartyOwners(run, [("v-a", 1.0, [0]), ("v-b", 1.0, [1])], {0: "v-a", 1: "v-b"}, ())

    got = dict(owners_with(decision, [(20.0, 25.0)])(1, 30.0))
    assert got["v-a"] == pytest.approx(0.08 / 0.3008, abs=1e-6)
    q = 1 - 0.1 / (1 + 2 ** 1.5)
    got = dict(owners_with(clear, [(20.0, 25.0)])(1, 30.0))
    assert got["v-a"] == pytest.approx(0.08 / (0.08 + 0.92 * (q * 0.05 + 1 - q)), abs=1e-6)
    # after the tangle it looks like b again: b's own look near 29.5 s outweighs the looks from before
    got = dict(owners_with(decision, [(24.0, 26.0), (29.0, 30.0)])(1, 29.5))
    assert got["v-b"] > 0.98


def test_one_crowd_is_one_place_a_track_may_have_changed_bodies():
    """Three pair tangles of one crowd, one over the other (26-28 s with t002, 27.5-29 s with t003, ambiguous;
    29.2-30 s with t004, clear with margin 4x the threshold), and a lone tangle at 40 s: two places, the crowd's
    as likely as its likeliest tangle (0.2), not 1 - 0.8 x 0.8 x 0.974."""
    from engine.looks import swap_points
    amb = {"ambiguous": True, "margin": 0.0, "threshold": 0.45}
    clear = {"ambiguous": False, "margin": 1.8, "threshold": 0.45}
    reid = [{**amb, "t": 28.0, "t_swap": 27.0, "tracks": ["t001", "t002"]},
            {**amb, "t": 29.0, "t_swap": 28.0, "tracks": ["t001", "t003"]},
            {**clear, "t": 30.0, "t_swap": 29.5, "tracks": ["t001", "t004"]},
            {**amb, "t": 41.0, "t_swap": 40.5, "tracks": ["t001", "t002"]}]
    tr = TrackInfo("t001", "a", "shopper", 0, True, True, 1.0, 58.0, reid=reid,
                   tangled=[(26.0, 28.0, "t002"), (27.5, 29.0, "t003"), (29.2, 30.0, "t004"), (40.0, 41.0, "t002")])
    assert swap_points(tr) == [(26.0, 30.0, pytest.approx(0.2)), (40.0, 41.0, pytest.approx(0.2))]
