"""The cart stage's output beside an engine run: receipts (recording.md) and the evidence behind each line.

RUN/
  receipts.json   recording.md's "Engine output: receipts.json" (`walkout-receipts/1`)
  evidence.json   `walkout-evidence/1`: every load-cell event the engine found, what it decided about it
                  (kind, bin, product, count, shopper), how sure it was and the ranked alternatives,
                  and for each receipt line the events it came from

The workstation shows this to reviewers ("why is this line here?") and the review database stores
it beside the visit. Both files are plain JSON; readers ignore unknown fields.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.run import RunError, read_format_json

RECEIPTS_FORMAT = "walkout-receipts/1"
EVIDENCE_FORMAT = "walkout-evidence/1"

EVENT_KINDS = ("take", "put", "misplaced_put", "restock", "hand_over", "touch", "unexplained")
REASONS = ("tangled-state", "ambiguous-shopper", "look-alike", "weight-mismatch", "camera-gap", "sensor-fault",
           "unexplained-event", "hand-over", "untracked-person", "ambiguous-track", "unseen-beside")


@dataclass
class Alternative:
    """One ranked answer to a question about an event; `score` is a probability (alternatives sum to <= 1)."""
    value: str | int  # a visit id (shopper), a sku (product) or a count (qty)
    score: float
    track: str | None = None  # for shopper alternatives: the track whose hand it was


@dataclass
class Event:
    """A change between two stable levels of one load cell, and the engine's reading of it."""
    id: str  # e-0001
    sensor: str
    t0: float  # the load starts to change
    t1: float  # the load is stable again
    delta_g: float  # after - before (negative: something left the cell)
    sd_g: float
    kind: str  # EVENT_KINDS
    bin: str | None
    sku: str | None
    qty: int  # units moved (always >= 0; kind says which way)
    visit: str | None  # whose cart it changes (None: associate or nobody)
    track: str | None  # the track whose hand was in the bin
    hand: str | None  # "left" | "right"
    confidence: float  # probability this event's reading (kind, bin, sku, qty, shopper) is all right
    shoppers: list[Alternative] = field(default_factory=list)
    products: list[Alternative] = field(default_factory=list)
    counts: list[Alternative] = field(default_factory=list)
    hand_path: list[list[float]] = field(default_factory=list)  # [[t, x, y, z], ...] of the chosen wrist
    reasons: list[str] = field(default_factory=list)


@dataclass
class LineEvidence:
    """Why one receipt line is there: the events that added and removed its units."""
    visit: str
    line: int  # index in the visit's `lines`
    sku: str
    events: list[str]
    alternatives: list[Alternative] = field(default_factory=list)  # other products this line could be


@dataclass
class ReceiptLine:
    sku: str
    qty: int
    price_cents: int
    confidence: float


@dataclass
class Visit:
    visit: str
    account: str | None
    entered_at: float
    exited_at: float | None
    status: str  # auto | review | confirmed | corrected
    confidence: float
    reasons: list[str]
    lines: list[ReceiptLine]
    tracks: list[str] = field(default_factory=list)  # evidence only: the party's engine tracks


@dataclass
class Evidence:
    recording: str
    visits: list[Visit]
    events: list[Event]
    line_evidence: list[LineEvidence]
    threshold: float  # the visit confidence at or above which a visit is charged unreviewed
    hand_overs: list[dict[str, Any]] = field(default_factory=list)

    def receipts_json(self) -> dict[str, Any]:
        """recording.md's receipts.json (no evidence-only fields)."""
        visits = []
        for v in self.visits:
            d = asdict(v)
            d.pop("tracks")
            visits.append(d)
        return {"format": RECEIPTS_FORMAT, "recording": self.recording, "visits": visits}

    def evidence_json(self) -> dict[str, Any]:
        return {"format": EVIDENCE_FORMAT, "recording": self.recording, "threshold": self.threshold,
                "visits": [{"visit": v.visit, "tracks": v.tracks} for v in self.visits],
                "events": [asdict(e) for e in self.events],
                "lines": [asdict(le) for le in self.line_evidence],
                "hand_overs": self.hand_overs}

    def write(self, run_dir: Path) -> None:
        run_dir = Path(run_dir)
        (run_dir / "receipts.json").write_text(json.dumps(self.receipts_json(), indent=1))
        (run_dir / "evidence.json").write_text(json.dumps(self.evidence_json(), indent=1))


def _alts(rows: list[dict]) -> list[Alternative]:
    return [Alternative(**r) for r in rows]


def load_evidence(run_dir: Path) -> Evidence:
    """Read receipts.json and evidence.json of a run; RunError names the file and field on anything broken."""
    run_dir = Path(run_dir)
    rp, ep = run_dir / "receipts.json", run_dir / "evidence.json"
    r = read_format_json(rp, RECEIPTS_FORMAT, " (this run has no receipts: process it again with this walkout)")
    e = read_format_json(ep, EVIDENCE_FORMAT, "", default={"format": EVIDENCE_FORMAT, "events": [], "lines": [],
                                                            "visits": [], "threshold": 1.0})
    where = rp
    try:
        tracks = {v["visit"]: v.get("tracks", []) for v in e.get("visits", [])}
        visits = [Visit(visit=v["visit"], account=v.get("account"), entered_at=float(v["entered_at"]),
                        exited_at=None if v.get("exited_at") is None else float(v["exited_at"]),
                        status=v["status"], confidence=float(v["confidence"]), reasons=list(v.get("reasons", [])),
                        lines=[ReceiptLine(sku=ln["sku"], qty=int(ln["qty"]), price_cents=int(ln["price_cents"]),
                                           confidence=float(ln.get("confidence", 1.0))) for ln in v["lines"]],
                        tracks=tracks.get(v["visit"], []))
                  for v in r["visits"]]
        where = ep
        events = []
        for d in e.get("events", []):
            d = dict(d)
            for k in ("shoppers", "products", "counts"):
                d[k] = _alts(d.get(k, []))
            events.append(Event(**d))
        lines = []
        for d in e.get("lines", []):
            d = dict(d)
            d["alternatives"] = _alts(d.get("alternatives", []))
            lines.append(LineEvidence(**d))
    except (KeyError, TypeError, ValueError) as err:
        raise RunError(f"{where}: unreadable field ({type(err).__name__}: {err})") from None
    return Evidence(recording=r.get("recording", ""), visits=visits, events=events, line_evidence=lines,
                    threshold=float(e.get("threshold", 1.0)), hand_overs=list(e.get("hand_overs", [])))
