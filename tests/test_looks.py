"""engine.looks: which parties a hand may belong to, by the linker's account and the body's look."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

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
