"""The hard-case tracking scenarios (benchmarks/scenarios/): they are valid, and the hardest one, strangers
dressed alike side by side at one shelf, is tracked end to end to issue 3's bars."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from data.scenario import read_scenario
from data.simulate import simulate
from engine.evaluate import evaluate_tracking
from engine.process import ProcessOptions, process_recording
from engine.run import load_run

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((REPO / "benchmarks" / "scenarios").glob("*.yaml"))
CHECKER = REPO.parent / "shared" / "tools" / "check_recording.py"


def test_every_hard_case_scenario_reads():
    assert {p.stem for p in SCENARIOS} >= {"tangle_twins", "crossings", "parties", "blackout"}
    for p in SCENARIOS:
        sc = read_scenario(p)
        assert sc.people, p


@pytest.mark.slow
def test_look_alike_strangers_side_by_side_keep_their_identities(tmp_path):
    rec = simulate(read_scenario(REPO / "benchmarks" / "scenarios" / "tangle_twins.yaml"), tmp_path / "rec",
                   workers=2)
    if CHECKER.is_file():
        r = subprocess.run([sys.executable, str(CHECKER), str(rec)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    process_recording(rec, tmp_path / "run", ProcessOptions(workers=2, cart=False))
    run = load_run(tmp_path / "run")
    rep, _ = evaluate_tracking(rec, run)
    assert rep.idf1 >= 0.97 and rep.mota >= 0.95, rep  # measured 0.999 / 0.998
    assert rep.visits_clean == rep.visits == 5, rep.per_person
    truth = {p["id"]: p["account"] for p in json.loads((rec / "truth" / "people.json").read_text())["people"]}
    accounts = {t.id: t.account for t in run.tracks}
    for pid, row in rep.per_person.items():  # each look-alike keeps the account scanned at the gate
        assert [accounts[t] for t in row["tracks"]] == [truth[pid]], (pid, row)
