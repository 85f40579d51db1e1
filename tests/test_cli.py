"""The `walkout` command line as a user meets it: one clear line and exit 2 on bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import CHECKER

WALKOUT = [sys.executable, "-m", "app.cli"]
REPO = Path(__file__).resolve().parents[1]


def walkout(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*WALKOUT, *args], capture_output=True, text=True, cwd=cwd or REPO)


def one_line_error(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_impossible_scenario_exits_2_naming_person_and_action(tmp_path, tiny_store_dir):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({"format": "walkout-scenario/1", "duration_s": 30, "store": str(tiny_store_dir),
                                 "cameras": {"auto": {"width": 160, "height": 120}},
                                 "people": [{"id": "p7", "account": "a", "actions": [
                                     {"do": "put", "bin": "A-1-01"}]}]}))
    msg = one_line_error(walkout("simulate", str(f), str(tmp_path / "out")))
    assert "person p7, action 1" in msg and "holds none" in msg
    assert not (tmp_path / "out").exists()


def test_unknown_preset_and_missing_file(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("format: walkout-scenario/1\nduration_s: 10\nstore: mega-mall\n")
    assert "unknown preset 'mega-mall'" in one_line_error(walkout("simulate", str(f), str(tmp_path / "o")))
    assert "no such file" in one_line_error(walkout("simulate", str(tmp_path / "nope.yaml"), str(tmp_path / "o")))


def test_existing_output_is_refused_without_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    f = tmp_path / "s.yaml"
    f.write_text("format: walkout-scenario/1\nduration_s: 10\n")
    msg = one_line_error(walkout("simulate", str(f), str(out)))
    assert "--overwrite" in msg
    assert (out / "keep.txt").read_text() == "mine"


def test_an_output_that_is_a_link_is_refused_before_the_work(tmp_path):
    """The finished directory replaces OUT; a link there used to fail only at the end, with a traceback and the
    work lost. Now it is refused at once, and what the link points to is untouched."""
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "keep.txt").write_text("mine")
    out = tmp_path / "out"
    out.symlink_to(real)
    f = tmp_path / "s.yaml"
    f.write_text("format: walkout-scenario/1\nduration_s: 10\n")
    msg = one_line_error(walkout("simulate", str(f), str(out), "--overwrite"))
    assert "symbolic link" in msg and str(out) in msg
    assert (real / "keep.txt").read_text() == "mine" and out.is_symlink()


def test_bad_knob(tmp_path):
    assert "--crowding" in one_line_error(walkout("scenario", "--random", "--crowding", "3"))


def test_validate_reports_problems_of_a_broken_recording(tmp_path):
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "recording.json").write_text('{"format": "walkout-recording/9", "duration_s": 5}')
    r = walkout("validate", str(rec))
    assert r.returncode == 1 and "walkout-recording/1" in r.stdout and "Traceback" not in r.stderr


@pytest.mark.slow
def test_random_scenario_written_then_simulated_equals_simulate_random(tmp_path):
    knobs = ["--seed", "4", "--duration", "25", "--people", "3", "--parties", "1", "--width", "160", "--height",
             "120", "--fps", "5", "--no-depth", "--handovers", "1", "--faults", "2"]
    r = walkout("scenario", "--random", *knobs)
    assert r.returncode == 0, r.stderr
    f = tmp_path / "s.yaml"
    f.write_text(r.stdout)
    a = walkout("simulate", str(f), str(tmp_path / "a"), "-q")
    b = walkout("simulate", "--random", *knobs, str(tmp_path / "b"), "-q")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    for rel in ("truth/events.jsonl", "truth/receipts.json", "sensors/weights.csv", "gates/events.jsonl"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    v = walkout("validate", str(tmp_path / "a"))
    assert v.returncode == 0 and "conforms" in v.stdout
    c = subprocess.run([sys.executable, str(CHECKER), str(tmp_path / "a")], capture_output=True, text=True)
    assert c.returncode == 0, c.stdout
    assert json.loads((tmp_path / "a" / "recording.json").read_text())["format"] == "walkout-recording/1"
