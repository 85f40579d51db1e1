"""A real small recording, its engine run, and receipts/evidence for review tests (and the Qt window's tests).

`build_review_fixture(root)` simulates 18 s of corner-store with three shoppers at 320x240, runs the
engine's perception over it, and writes receipts.json + evidence.json into the run from the recording's
truth: the lines are the truth's, v-0001 and v-0002 are held for review (a look-alike alternative on
v-0001's first line, an ambiguous shopper on v-0002's first event), v-0003 is charged automatically, and
one unexplained load-cell event belongs to nobody. Calling it again on the same root reuses what is there.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from data.camera_placement import auto_cameras
from data.random_scenario import Knobs, random_scenario
from data.recording import open_recording
from data.scenario import AutoCameras
from data.simulate import simulate
from data.store_source import load_store
from engine.evidence import Alternative, Event, Evidence, LineEvidence, ReceiptLine, Visit
from engine.process import ProcessOptions, process_recording
from engine.run import load_run

KNOBS = Knobs(seed=11, duration_s=18, people=3, parties=0, crowding=0.8, items=(1, 2), camera_width=320,
              camera_height=240, putback=0.0, misplaced=0.0, touches=0.0)
HELD = ("v-0001", "v-0002")
THRESHOLD = 0.9
RIGHT_WRIST = 10


def build_review_fixture(root: Path) -> tuple[Path, Path]:
    """(recording dir, run dir) under root, the run holding receipts.json and evidence.json."""
    root = Path(root)
    rec_dir, run_dir = root / "rec", root / "run"
    if (run_dir / "evidence.json").exists():
        return rec_dir, run_dir
    if not (run_dir / "run.json").exists():
        store, catalog = load_store(KNOBS.store)
        cams = auto_cameras(store, AutoCameras(width=KNOBS.camera_width, height=KNOBS.camera_height))
        simulate(random_scenario(KNOBS, store, catalog, [c.id for c in cams]), rec_dir, overwrite=True, workers=1)
        process_recording(rec_dir, run_dir, ProcessOptions(pose_hz=5, workers=1, overwrite=True))
    evidence_from_truth(rec_dir, run_dir).write(run_dir)
    return rec_dir, run_dir


def _look_alike(catalog, sku: str) -> str:
    """A sibling of the same family, else the product closest in weight (what a scale would confuse)."""
    p = catalog.by_sku[sku]
    sib = [q.sku for q in catalog.families().get(p.family, []) if q.sku != sku]
    if sib:
        return sib[0]
    return min((q for q in catalog.products if q.sku != sku), key=lambda q: abs(q.weight_g - p.weight_g)).sku


def evidence_from_truth(rec_dir: Path, run_dir: Path) -> Evidence:
    rec = open_recording(rec_dir)
    run = load_run(run_dir)
    truth = rec.truth_receipts()["visits"]
    tvisits = sorted(truth, key=lambda v: v["entered_at"])
    vid = {v["account"]: f"v-{i + 1:04d}" for i, v in enumerate(tvisits)}
    tracks = {a: [t.id for t in run.tracks if t.account == a] for a in vid}
    bins = {b.id: b for b in rec.store.bins}
    events: list[Event] = []

    def hand_path(track: str | None, t: float) -> list[list[float]]:
        if track is None or track not in list(run.people):
            return []
        p = list(run.people).index(track)
        k = (run.t >= t - 1.0) & (run.t <= t + 1.0)
        return [[float(tt), *map(float, xyz)] for tt, xyz in zip(run.t[k], run.joints[k, p, RIGHT_WRIST])
                if np.isfinite(xyz).all()]

    line_events: dict[tuple[str, str], list[str]] = {}
    for i, te in enumerate(rec.truth_events()):
        if te["kind"] not in ("take", "put") or te.get("account") not in vid:
            continue
        v = vid[te["account"]]
        others = [a for a in vid if a != te["account"]]
        track = (tracks[te["account"]] or [None])[0]
        ambiguous = v == "v-0002" and not any(e.visit == v for e in events)
        other = others[0] if others else None
        shoppers = [Alternative(v, 0.62 if ambiguous else 0.97, track)]
        if other is not None:
            shoppers.append(Alternative(vid[other], 0.35 if ambiguous else 0.02, (tracks[other] or [None])[0]))
        sku, qty = te["sku"], int(te.get("qty", 1))
        prod = rec.catalog.by_sku[sku]
        sign = -1 if te["kind"] == "take" else 1
        e = Event(id=f"e-{len(events) + 1:04d}", sensor=bins[te["bin"]].sensor, t0=float(te["t"]),
                  t1=float(te["t"]) + 0.6, delta_g=sign * prod.weight_g * qty, sd_g=prod.weight_sd_g, kind=te["kind"],
                  bin=te["bin"], sku=sku, qty=qty, visit=v, track=track, hand="right",
                  confidence=0.6 if ambiguous else 0.95, shoppers=shoppers,
                  products=[Alternative(sku, 0.9), Alternative(_look_alike(rec.catalog, sku), 0.08)],
                  counts=[Alternative(qty, 0.97), Alternative(qty + 1, 0.02)], hand_path=hand_path(track, te["t"]),
                  reasons=["ambiguous-shopper"] if ambiguous else [])
        events.append(e)
        line_events.setdefault((v, sku), []).append(e.id)
    # a load change nobody explains, while v-0001 is in the store
    b = rec.store.bins[0]
    t_u = float(tvisits[0]["entered_at"]) + 2.0
    events.append(Event(id=f"e-{len(events) + 1:04d}", sensor=b.sensor, t0=t_u, t1=t_u + 0.4, delta_g=-35.0,
                        sd_g=6.0, kind="unexplained", bin=None, sku=None, qty=0, visit=None, track=None, hand=None,
                        confidence=0.3, reasons=["unexplained-event"]))
    events.sort(key=lambda e: e.t0)
    visits, lines_ev = [], []
    exits = {t.account: t.t1 for t in run.tracks if t.account}
    for tv in tvisits:
        v = vid[tv["account"]]
        lines = []
        for n, ln in enumerate(tv["lines"]):
            sku, qty = ln["sku"], int(ln["qty"])
            look = v == "v-0001" and n == 0
            lines.append(ReceiptLine(sku=sku, qty=qty, price_cents=rec.catalog.by_sku[sku].price_cents,
                                     confidence=0.61 if look else 0.97))
            alts = [Alternative(_look_alike(rec.catalog, sku), 0.39 if look else 0.03)]
            lines_ev.append(LineEvidence(visit=v, line=n, sku=sku, events=line_events.get((v, sku), []),
                                         alternatives=alts))
        held = v in HELD
        reasons = {"v-0001": ["look-alike"], "v-0002": ["ambiguous-shopper", "tangled-state"]}.get(v, [])
        visits.append(Visit(visit=v, account=tv["account"], entered_at=float(tv["entered_at"]),
                            exited_at=float(exits.get(tv["account"], rec.duration_s)),
                            status="review" if held else "auto",
                            confidence=(0.61 if v == "v-0001" else 0.55) if held else 0.97,
                            reasons=reasons, lines=lines, tracks=tracks[tv["account"]]))
    return Evidence(recording=rec.id, visits=visits, events=events, line_evidence=lines_ev, threshold=THRESHOLD)
