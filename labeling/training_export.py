"""Training data from what reviewers decided (design.md: export -> retrain).

OUT/
  events.jsonl        one labelled example a line: who (visit, account, track) took or put what (sku, qty, bin)
                      when, `origin` engine (a reviewer confirmed the engine's reading) or reviewer (a reviewer
                      changed, moved, deleted or added it) with the `correction` id, and `source` (recording,
                      run, database) it came from
  crops/<rec>/*.png   the product in hand: a square around the projected wrist of the example's track, in the
                      cameras that see it best; crops.jsonl says which example, camera and frame each is
  keypoints/coco.json COCO person-keypoints of the engine's 2D poses (frames/<cam>.npz of the run) at the
                      examples' times, with the frames as images/; each image says its recording, camera, time

Only visits a reviewer finished (confirmed or corrected) give examples.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from data.errors import InputError
from data.recording import open_recording
from engine.frames import CameraStream
from engine.run import load_run
from labeling.review_db import ReviewDB
from labeling.views import CorrectionView, LineView, VisitView

COCO_KEYPOINTS = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle"]
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                 [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
WRISTS = {"left": 9, "right": 10}
HAND_M = 0.5  # the crop's side in metres at the wrist's depth (the hand and what it holds, with context)
CAMERAS_PER_CROP = 2


@dataclass
class TrainingSummary:
    out: Path
    examples: int = 0
    crops: int = 0
    images: int = 0
    annotations: int = 0
    skipped: list[str] = field(default_factory=list)  # why some crops or frames could not be made

    def __str__(self) -> str:
        s = (f"wrote {self.out}: {self.examples} labelled events, {self.crops} product crops, "
             f"{self.images} keypoint frames ({self.annotations} people)")
        return s + (f"; {len(self.skipped)} skipped" if self.skipped else "")


def labelled_examples(views: list[VisitView], history: list[CorrectionView]) -> list[dict[str, Any]]:
    """One recording's events and reviewer-added items, labelled as reviewers left them.

    `views`: every visit of the recording (a line may have moved between visits); only events that end up
    in a finished visit (or whose engine shopper was finished) are examples.
    """
    live = [c for c in history if not c.undone]
    by_line: dict[int, list[CorrectionView]] = {}
    for c in live:
        if c.entity == "line":
            by_line.setdefault(c.entity_id, []).append(c)
    by_event = {c.entity_id: c for c in live if c.entity == "event"}
    by_visit = {vw.visit.visit: vw for vw in views}
    line_of: dict[str, tuple[LineView, VisitView]] = {k: (ln, vw) for vw in views for ln in vw.lines for k in ln.events}
    events = {e.id: e for vw in views for e in vw.events}
    done = ("confirmed", "corrected")
    out = []
    for e in sorted(events.values(), key=lambda e: e.t0):
        ln, owner = line_of.get(e.key, (None, by_visit.get(e.visit or "")))
        if owner is None or owner.visit.final_status not in done:
            continue
        cs = list(by_line.get(ln.id, [])) if ln else []
        if e.id in by_event:
            cs.append(by_event[e.id])
        sku, qty, visit, track, decision = e.sku, e.qty, owner.visit.visit, e.track, "confirmed"
        if e.no_event:
            decision, visit, track = "no_event", None, None
        elif ln is not None and ln.deleted:
            decision, visit, track = "deleted", None, None
        elif ln is not None:
            sku = ln.sku
            if len(ln.events) == 1:
                qty = ln.qty
            if visit != e.visit:
                track = next((a.track for a in e.shoppers if a.value == visit), None)
                if track is None and len(owner.visit.tracks) == 1:
                    track = owner.visit.tracks[0]
            if cs:
                decision = "corrected"
        out.append(_example(owner, e.key, e.t0, e.t1, e.kind, e.bin, e.sensor, sku, qty, visit, track, e.hand,
                            "reviewer" if cs else "engine", cs[-1].id if cs else None, decision, e.hand_path))
    for vw in views:
        if vw.visit.final_status not in done:
            continue
        for ln in vw.lines:
            if ln.origin != "reviewer" or ln.deleted:
                continue
            add = next((c for c in by_line.get(ln.id, []) if c.kind == "add_line"), None)
            track = vw.visit.tracks[0] if len(vw.visit.tracks) == 1 else None
            t = ln.t if ln.t is not None else 0.0
            out.append(_example(vw, None, t, t, "take", None, None, ln.sku, ln.qty, vw.visit.visit, track, None,
                                "reviewer", add.id if add else None, "added", []))
    return out


def _example(view: VisitView, event: str | None, t0: float, t1: float, kind: str, bin_: str | None,
             sensor: str | None, sku: str | None, qty: int, visit: str | None, track: str | None, hand: str | None,
             origin: str, correction: int | None, decision: str, hand_path: list) -> dict[str, Any]:
    v = view.visit
    return {"recording": v.recording, "visit_key": v.key, "event": event, "t": t0, "t1": t1, "kind": kind,
            "bin": bin_, "sensor": sensor, "sku": sku, "qty": qty, "visit": visit,
            "account": v.account if visit == v.visit else None, "track": track, "hand": hand, "origin": origin,
            "correction": correction, "decision": decision, "final_status": v.final_status,
            "source": {"recording_path": str(view.recording_path), "run_path": str(view.run_path)},
            "_hand_path": hand_path}


def export_training(db: ReviewDB, out: Path, crops: bool = True, keypoints: bool = True) -> TrainingSummary:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = TrainingSummary(out)
    examples: list[dict[str, Any]] = []
    for rec_key in db.recordings():
        visits = db.final_receipts(rec_key)["visits"]
        if not any(v["status"] in ("confirmed", "corrected") for v in visits):
            continue
        views = [db.visit(f"{rec_key}/{v['visit']}") for v in visits]
        history = {c.id: c for vw in views for c in db.corrections(vw.visit.id)}
        examples += labelled_examples(views, sorted(history.values(), key=lambda c: c.id))
    db_source = db.where
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for ex in examples:
        ex["source"]["review_db"] = db_source
        groups.setdefault((ex["source"]["recording_path"], ex["source"]["run_path"]), []).append(ex)
    crop_rows: list[dict[str, Any]] = []
    coco: dict[str, Any] = {"info": {"description": "walkout engine 2D poses at reviewed events",
                                     "review_db": db_source},
                            "images": [], "annotations": [],
                            "categories": [{"id": 1, "name": "person", "supercategory": "person",
                                            "keypoints": COCO_KEYPOINTS, "skeleton": COCO_SKELETON}]}
    for (rec_path, run_path), exs in groups.items():
        if not crops and not keypoints:
            break
        try:
            rec = open_recording(Path(rec_path))
            run = load_run(Path(run_path))
        except InputError as e:
            summary.skipped.append(f"{rec_path}: no crops or keypoint frames ({e})")
            continue
        if crops:
            crop_rows += _crops(rec, run, exs, out, summary)
        if keypoints:
            _keypoint_frames(rec, run, exs, out, coco, summary)
    with (out / "events.jsonl").open("w") as f:
        for ex in examples:
            ex.pop("_hand_path", None)
            f.write(json.dumps(ex) + "\n")
    summary.examples = len(examples)
    if crops:
        with (out / "crops.jsonl").open("w") as f:
            for r in crop_rows:
                f.write(json.dumps(r) + "\n")
    if keypoints:
        (out / "keypoints").mkdir(exist_ok=True)
        (out / "keypoints" / "coco.json").write_text(json.dumps(coco, indent=1))
    return summary


def _wrist_at(run, ex: dict[str, Any], t: float) -> np.ndarray | None:  # type: ignore[no-untyped-def]
    """The example's wrist in world metres at t: the engine's hand path, else the track's pose."""
    path = [p for p in ex["_hand_path"] if len(p) == 4]
    if path:
        p = min(path, key=lambda p: abs(p[0] - t))
        if abs(p[0] - t) <= 0.5:
            return np.array(p[1:], float)
    track = ex["track"]
    people = [str(p) for p in run.people]
    if track is None or track not in people or not len(run.t):
        return None
    _, joints = run.poses_at(t)
    w = joints[people.index(track), WRISTS.get(ex["hand"] or "right", 10)]
    return w.astype(float) if np.isfinite(w).all() else None


def _crops(rec, run, exs: list[dict[str, Any]], out: Path, summary: TrainingSummary) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    wanted: dict[str, list[tuple[dict[str, Any], float, np.ndarray, float]]] = {}
    for ex in exs:
        if ex["sku"] is None or ex["decision"] in ("no_event", "deleted"):
            continue
        t = (ex["t"] + ex["t1"]) / 2
        w = _wrist_at(run, ex, t)
        if w is None:
            summary.skipped.append(f"{ex['recording']} {ex['event'] or 'added line'} at {t:.2f} s: no wrist")
            continue
        seen = []
        for cam in rec.cameras:
            uv = cam.project(w)
            z = float(cam.to_camera(w)[2])
            if cam.video and cam.in_image(uv, margin=8) and z > 0:
                seen.append((z, cam.id, uv))
        for z, cid, uv in sorted(seen)[:CAMERAS_PER_CROP]:
            cam = rec.camera(cid)
            side = int(np.clip(cam.K[0, 0] * HAND_M / z, 48, 256))
            wanted.setdefault(cid, []).append((ex, t, uv, side))
    rows = []
    for cid, items in wanted.items():
        with CameraStream(rec, cid) as stream:
            for ex, t, uv, side in sorted(items, key=lambda it: it[1]):
                fr = stream.frame_at(t, rgb=True, depth=False)
                h, w_ = fr.rgb.shape[:2]
                x0, y0 = int(round(uv[0] - side / 2)), int(round(uv[1] - side / 2))
                x0, y0 = max(0, min(x0, w_ - side)), max(0, min(y0, h - side))
                crop = fr.rgb[y0:y0 + side, x0:x0 + side]
                name = f"{ex['event'] or 'added'}-{ex['visit'] or 'none'}-{cid}-{fr.t:.3f}.png"
                path = out / "crops" / ex["recording"] / name
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2BGR))
                rows.append({"file": str(path.relative_to(out)), "recording": ex["recording"], "camera": cid,
                             "frame_t": fr.t, "t": t, "event": ex["event"], "visit": ex["visit"], "sku": ex["sku"],
                             "origin": ex["origin"], "correction": ex["correction"],
                             "wrist_px": [float(uv[0]), float(uv[1])], "box": [x0, y0, x0 + side, y0 + side],
                             "source": ex["source"]})
                summary.crops += 1
    return rows


def _keypoint_frames(rec, run, exs: list[dict[str, Any]], out: Path, coco: dict[str, Any],  # type: ignore[no-untyped-def]
                     summary: TrainingSummary) -> None:
    times = sorted({round(ex["t"], 3) for ex in exs})
    for cid in run.manifest.get("cameras", []):
        try:
            cf = run.camera_frames(cid)
        except InputError as e:
            summary.skipped.append(str(e))
            continue
        if not len(cf.times):
            continue
        frames = sorted({int(np.argmin(np.abs(cf.times - t))) for t in times})
        frames = [i for i in frames if (cf.kp_frame == i).any()]
        if not frames:
            continue
        cam = rec.camera(cid)
        stream = CameraStream(rec, cid) if cam.video else None
        try:
            for i in frames:
                ft = float(cf.times[i])
                image_id = len(coco["images"]) + 1
                name = f"images/{rec.id}/{cid}-{ft:.3f}.png"
                if stream is not None:
                    fr = stream.frame_at(ft, rgb=True, depth=False)
                    p = out / "keypoints" / name
                    p.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(p), cv2.cvtColor(np.ascontiguousarray(fr.rgb), cv2.COLOR_RGB2BGR))
                coco["images"].append({"id": image_id, "file_name": name if stream else None, "width": cam.width,
                                       "height": cam.height, "recording": rec.id, "camera": cid, "t": ft,
                                       "source": {"recording_path": str(rec.root), "run_path": str(run.root),
                                                  "frames": f"frames/{cid}.npz"}})
                summary.images += 1
                for k in np.flatnonzero(cf.kp_frame == i):
                    kp = cf.kp[k]
                    vis = np.where(kp[:, 2] > 0.3, 2, np.where(kp[:, 2] > 0, 1, 0))
                    flat = [float(x) for u, v_, s in zip(kp[:, 0], kp[:, 1], vis)
                            for x in ((u, v_, int(s)) if s else (0.0, 0.0, 0))]
                    x0, y0, x1, y1 = (int(x) for x in cf.det_box[cf.kp_det[k]])
                    coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": image_id,
                                                "category_id": 1, "keypoints": flat, "num_keypoints": int((vis > 0).sum()),
                                                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": float((x1 - x0) * (y1 - y0)),
                                                "iscrowd": 0, "score": [float(s) for s in kp[:, 2]]})
                    summary.annotations += 1
        finally:
            if stream is not None:
                stream.close()
