"""Exports from the review database: final receipts (round trip) and training data from reviewers' decisions."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from engine.evidence import load_evidence
from labeling.review_db import open_db
from labeling.training_export import export_training
from review_fixture import build_review_fixture

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def review_run(tmp_path_factory) -> tuple[Path, Path]:
    return build_review_fixture(tmp_path_factory.getbasetemp() / "review-fixture")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not os.environ.get("WALKOUT_TEST_PG"), reason="set WALKOUT_TEST_PG to a PostgreSQL URL"))])
def reviewed(request, tmp_path, review_run):
    """v-0001: its look-alike line corrected to the alternative and a missed item added; v-0002 still held.
    On SQLite, and on PostgreSQL (emptied first) when WALKOUT_TEST_PG is set."""
    if request.param == "sqlite":
        db = open_db(tmp_path / "review.db")
    else:
        from test_labeling import reset_pg
        reset_pg(os.environ["WALKOUT_TEST_PG"])
        db = open_db(os.environ["WALKOUT_TEST_PG"])
    db.ingest_run(review_run[1])
    key = db.queue()[0].key
    view = db.visit(key)
    line = view.lines[0]
    fix = db.change_line(line.id, "ana", sku=line.alternatives[0].value)
    add = db.add_line(key, line.sku, 1, view.visit.entered_at + 3.0, "ana")
    db.confirm(key, "ana")
    yield db, key, fix, add
    db.close()


def test_receipts_round_trip(reviewed, tmp_path):
    db, key, _, _ = reviewed
    rec = db.recordings()[0]
    out = tmp_path / "receipts"
    r = subprocess.run([sys.executable, "-m", "app.cli", "export", "receipts", str(out), "--db", db.url],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert json.loads((out / rec / "receipts.json").read_text()) == db.final_receipts(rec)
    ev = load_evidence(out / rec)  # what the engine's reader makes of it
    by = {v.visit: v for v in ev.visits}
    assert by["v-0001"].status == "corrected" and len(by["v-0001"].lines) == 2
    assert by["v-0002"].status == "review" and by["v-0003"].status == "auto"
    assert by["v-0001"].lines[0].sku == db.visit(key).lines[0].sku
    one = tmp_path / "one.json"
    assert db.export_receipts(one) == [one] and json.loads(one.read_text())["recording"] == rec


def test_training_export_labels_what_reviewers_decided(reviewed, tmp_path):
    db, key, fix, add = reviewed
    out = tmp_path / "training"
    summary = export_training(db, out)
    examples = [json.loads(x) for x in (out / "events.jsonl").read_text().splitlines()]
    assert summary.examples == len(examples) >= 2
    assert {e["visit_key"] for e in examples} == {key}  # only finished visits
    corrected = next(e for e in examples if e["correction"] == fix)
    assert corrected["origin"] == "reviewer" and corrected["sku"] == db.visit(key).lines[0].sku
    assert corrected["track"] and corrected["bin"] and corrected["event"]
    added = next(e for e in examples if e["correction"] == add)
    assert added["decision"] == "added" and added["event"] is None
    for e in examples:
        assert e["source"]["run_path"] and e["source"]["recording_path"] and e["source"]["review_db"]
    crops = [json.loads(x) for x in (out / "crops.jsonl").read_text().splitlines()]
    assert crops and summary.crops == len(crops)
    for c in crops:
        img = cv2.imread(str(out / c["file"]))
        assert img is not None and img.shape[0] == img.shape[1] >= 48
        assert c["camera"] and c["source"]["run_path"]
    coco = json.loads((out / "keypoints" / "coco.json").read_text())
    assert coco["categories"][0]["keypoints"][9] == "left_wrist"
    assert coco["images"] and coco["annotations"]
    ids = {im["id"] for im in coco["images"]}
    for im in coco["images"]:
        assert (out / "keypoints" / im["file_name"]).exists() and im["camera"] and "t" in im
    for a in coco["annotations"]:
        assert a["image_id"] in ids and len(a["keypoints"]) == 51 and len(a["bbox"]) == 4


def test_export_with_nothing_ingested_says_so(tmp_path):
    r = subprocess.run([sys.executable, "-m", "app.cli", "export", "receipts", str(tmp_path / "o"), "--db",
                        str(tmp_path / "empty.db")], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "no recordings" in r.stderr and "Traceback" not in r.stderr
