"""The review database's API (plain Python; the Qt workstation and the CLI both sit on it).

    db = open_db()                       # or open_db("postgresql+psycopg://...") / open_db("review.db")
    db.ingest_run(run_dir)
    item = db.claim_next("ana")
    view = db.visit(item.key)
    cid = db.change_line(view.lines[0].id, "ana", sku="sku-0002")
    db.undo(cid, "ana"); db.redo(cid, "ana")
    db.confirm(item.key, "ana")

Every call is its own transaction and is committed before it returns, so a crash of the workstation loses
no decision. Visits are named by "<recording>/<visit>" (QueueItem.key), a bare visit id when only one
recording has it, or their database id.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from labeling import claims, decisions
from labeling.database import describe, make_engine, resolve_url
from labeling.errors import DatabaseError
from labeling.ingest import ingest_run
from labeling.lookup import (VisitKey, correction_view, event_view, find_correction, find_event, find_line,
                             find_recording, find_visit, line_view, product_view, visit_info, visit_key)
from labeling.migrate import current, head, known, upgrade
from labeling.models import (AuditEntry, Base, Correction, Event, Product, ReceiptLine, Recording, Reviewer,
                             Visit)
from labeling.receipts import final_receipts, write_json
from labeling.views import AuditView, CorrectionView, ProductView, QueueItem, VisitView

DEFAULT_LAPSE_S = 900.0


def open_db(url: str | Path | None = None) -> ReviewDB:
    """Open (creating and migrating to this walkout's schema) the review database at `url`.

    `url`: a SQLAlchemy URL, a SQLite file path, or None for the per-user default file.
    Raises DatabaseError naming the file or URL when it is unreadable, not a review database, or newer.
    """
    url = resolve_url(url)
    where = describe(url)
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            rev = current(c)
            if rev is None:
                foreign = set(inspect(c).get_table_names()) - set(Base.metadata.tables) - {"alembic_version"}
                if foreign:
                    raise DatabaseError(f"{where}: not a walkout review database (it has tables "
                                        f"{', '.join(sorted(foreign)[:5])})")
            elif not known(rev):
                raise _newer(where, rev)
        if rev != head():
            with engine.execution_options(write=True).begin() as c:
                rev = upgrade(c)  # under a lock: another workstation may have migrated it meanwhile
            if rev is not None and not known(rev):
                raise _newer(where, rev)
    except DatabaseError:
        engine.dispose()
        raise
    except SQLAlchemyError as e:
        engine.dispose()
        raise DatabaseError(f"{where}: cannot be opened as a review database ({_why(e)})") from None
    return ReviewDB(engine, url)


def _newer(where: str, rev: str) -> DatabaseError:
    return DatabaseError(f"{where}: its schema (revision {rev}) is newer than this walkout knows "
                         f"(up to {head()}); upgrade walkout to open it")


def _why(e: SQLAlchemyError) -> str:
    orig = getattr(e, "orig", None)
    return str(orig if orig is not None else e).strip().splitlines()[0]


class ReviewDB:
    def __init__(self, engine: Engine, url: str) -> None:
        self.url = url
        self.engine = engine
        self._writer = engine.execution_options(write=True)
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self.claim_lapse_s = DEFAULT_LAPSE_S  # how long a decision renews the reviewer's claim
        self._reviewers: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"ReviewDB({self.where!r})"

    @property
    def where(self) -> str:
        """The database as shown to people: its file, or its URL without a password."""
        return describe(self.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> ReviewDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as s, s.begin():
                yield s
        except SQLAlchemyError as e:
            raise DatabaseError(f"{describe(self.url)}: {_why(e)}") from None

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction (BEGIN IMMEDIATE on SQLite), committed when the block ends."""
        try:
            with Session(self._writer, expire_on_commit=False) as s, s.begin():
                yield s
        except SQLAlchemyError as e:
            raise DatabaseError(f"{describe(self.url)}: {_why(e)}") from None

    def _reviewer(self, name: str) -> int:
        if not isinstance(name, str) or not name.strip():
            raise DatabaseError("reviewer: a non-empty name is needed for every claim and decision")
        if name in self._reviewers:
            return self._reviewers[name]
        for _ in range(2):
            try:
                with self._write() as s:
                    rid = s.scalar(select(Reviewer.id).where(Reviewer.name == name))
                    if rid is None:
                        r = Reviewer(name=name, created_at=self.clock())
                        s.add(r)
                        s.flush()
                        rid = r.id
                break
            except DatabaseError as e:  # two first decisions of one new reviewer at once: the other made it
                if not isinstance(e.__context__, IntegrityError):
                    raise
        self._reviewers[name] = rid
        return rid

    def _who(self, reviewer: str, lapse_s: float | None = None) -> decisions.Who:
        return decisions.Who(self._reviewer(reviewer), reviewer, self.clock(),
                             self.claim_lapse_s if lapse_s is None else float(lapse_s))

    # -- ingest and reading -------------------------------------------------------------------------------

    def ingest_run(self, run_dir: str | Path) -> list[str]:
        """Add an engine run's visits; the keys of the visits added (none when it was already ingested)."""
        with self._write() as s:
            return ingest_run(s, Path(run_dir), self.clock())

    def recordings(self) -> list[str]:
        with self._read() as s:
            return list(s.scalars(select(Recording.key).order_by(Recording.started_at, Recording.id)))

    def products(self, recording: str) -> list[ProductView]:
        """The recording's catalog (for choosing a product to add or change a line to)."""
        with self._read() as s:
            rec = find_recording(s, recording)
            return [product_view(p) for p in s.scalars(select(Product).where(Product.recording_id == rec.id)
                                                       .order_by(Product.sku))]

    def queue(self, reason: str | None = None, store: str | None = None, max_confidence: float | None = None,
              include_claimed: bool = False) -> list[QueueItem]:
        """Held visits nobody has decided yet, oldest first; claimed ones only with include_claimed."""
        now = self.clock()
        with self._read() as s:
            n_lines = (select(func.count()).select_from(ReceiptLine)
                       .where(ReceiptLine.visit_id == Visit.id, ReceiptLine.deleted.is_(False))
                       .correlate(Visit).scalar_subquery())
            q = claims.held(select(Visit, Recording, Reviewer.name, n_lines)
                            .join(Recording, Visit.recording_id == Recording.id)
                            .outerjoin(Reviewer, Visit.claimed_by == Reviewer.id), reason, store, max_confidence)
            out = []
            for v, rec, claimer, n in s.execute(q):
                live = v.claimed_by is not None and v.claimed_until is not None and v.claimed_until >= now
                if live and not include_claimed:
                    continue
                out.append(QueueItem(key=visit_key(rec, v), id=v.id, recording=rec.key, visit=v.key, store=rec.store,
                                     account=v.account, entered_at=v.entered_at, exited_at=v.exited_at,
                                     confidence=v.engine_confidence, reasons=list(v.reasons), lines=int(n),
                                     claimed_by=claimer if live else None,
                                     claimed_until=v.claimed_until if live else None))
            return out

    def visit(self, key: VisitKey) -> VisitView:
        with self._read() as s:
            v = find_visit(s, key)
            info = visit_info(s, v)
            lines = s.scalars(select(ReceiptLine).where(ReceiptLine.visit_id == v.id)
                              .order_by(ReceiptLine.position, ReceiptLine.id)).all()
            end = v.exited_at if v.exited_at is not None else float("inf")
            events = [e for e in s.scalars(select(Event).where(Event.run_id == v.run_id).order_by(Event.t0, Event.key))
                      if e.visit_id == v.id or any(a.get("value") == v.key for a in e.shoppers)
                      or (e.visit_key is None and v.entered_at <= e.t0 <= end)]
            skus = {ln.sku for ln in lines} | {str(a["value"]) for ln in lines for a in ln.alternatives}
            skus |= {e.sku for e in events if e.sku} | {str(a["value"]) for e in events for a in e.products}
            products = {p.sku: product_view(p) for p in s.scalars(
                select(Product).where(Product.recording_id == v.recording_id, Product.sku.in_(skus)))}
            return VisitView(visit=info, lines=[line_view(ln) for ln in lines], events=[event_view(e) for e in events],
                             recording_path=Path(v.recording.path), run_path=Path(v.run.path), products=products)

    # -- claims -------------------------------------------------------------------------------------------

    def claim(self, key: VisitKey, reviewer: str, lapse_s: float = DEFAULT_LAPSE_S) -> bool:
        """Claim a visit for `reviewer` until lapse_s from now; False when someone else holds it (or it is decided)."""
        who = self._who(reviewer, lapse_s)
        with self._write() as s:
            return claims.claim(s, find_visit(s, key), who.rid, reviewer, who.now, who.lapse_s)

    def claim_next(self, reviewer: str, reason: str | None = None, store: str | None = None,
                   max_confidence: float | None = None, lapse_s: float = DEFAULT_LAPSE_S) -> QueueItem | None:
        """Claim the oldest held visit nobody else holds (one already held by `reviewer` counts); None: queue empty."""
        who = self._who(reviewer, lapse_s)
        with self._write() as s:
            v = claims.claim_next(s, who.rid, reviewer, who.now, who.lapse_s, reason, store, max_confidence)
            key = None if v is None else visit_key(v.recording, v)
        if key is None:
            return None
        return next((q for q in self.queue(include_claimed=True) if q.key == key), None)

    def release(self, key: VisitKey, reviewer: str) -> bool:
        who = self._who(reviewer)
        with self._write() as s:
            return claims.release(s, find_visit(s, key), who.rid, reviewer, who.now)

    # -- decisions (each returns the id of its correction, for undo/redo) ---------------------------------

    def change_line(self, line_id: int, reviewer: str, *, sku: str | None = None, qty: int | None = None,
                    visit: VisitKey | None = None) -> int:
        """Change a line's product or count, or move it to another shopper's visit of the same recording."""
        who = self._who(reviewer)
        with self._write() as s:
            target = find_visit(s, visit) if visit is not None else None
            return decisions.change_line(s, find_line(s, line_id), who, sku=sku, qty=qty, to_visit=target)

    def delete_line(self, line_id: int, reviewer: str) -> int:
        who = self._who(reviewer)
        with self._write() as s:
            return decisions.delete_line(s, find_line(s, line_id), who)

    def add_line(self, visit: VisitKey, sku: str, qty: int, t: float, reviewer: str) -> int:
        """A missed item: `qty` of `sku`, taken at time `t` of the recording. The new line is the correction's
        entity_id (see `correction`)."""
        who = self._who(reviewer)
        with self._write() as s:
            return decisions.add_line(s, find_visit(s, visit), sku, qty, t, who)

    def mark_no_event(self, event_id: int, reviewer: str, no_event: bool = True) -> int:
        """Nothing happened at this load-cell event (noise, a touch); no_event=False takes that back."""
        who = self._who(reviewer)
        with self._write() as s:
            return decisions.mark_no_event(s, find_event(s, event_id), who, no_event)

    def confirm(self, visit: VisitKey, reviewer: str) -> int:
        """Finish the visit: `confirmed` when nothing was corrected, else `corrected`; its claim is released."""
        who = self._who(reviewer)
        with self._write() as s:
            return decisions.confirm(s, find_visit(s, visit), who)

    def undo(self, correction_id: int, reviewer: str) -> None:
        who = self._who(reviewer)
        with self._write() as s:
            decisions.undo(s, find_correction(s, correction_id), who)

    def redo(self, correction_id: int, reviewer: str) -> None:
        who = self._who(reviewer)
        with self._write() as s:
            decisions.redo(s, find_correction(s, correction_id), who)

    # -- history and results ------------------------------------------------------------------------------

    def correction(self, correction_id: int) -> CorrectionView:
        with self._read() as s:
            return correction_view(s, find_correction(s, correction_id))

    def corrections(self, visit: VisitKey | None = None, include_undone: bool = True) -> list[CorrectionView]:
        with self._read() as s:
            q = select(Correction).order_by(Correction.id)
            if visit is not None:
                vid = find_visit(s, visit).id
                q = q.where((Correction.visit_id == vid) | (Correction.target_visit_id == vid))
            if not include_undone:
                q = q.where(Correction.undone.is_(False))
            return [correction_view(s, c) for c in s.scalars(q)]

    def audit_log(self, visit: VisitKey | None = None) -> list[AuditView]:
        with self._read() as s:
            q = select(AuditEntry).order_by(AuditEntry.id)
            if visit is not None:
                q = q.where(AuditEntry.visit_id == find_visit(s, visit).id)
            return [AuditView(id=a.id, at=a.at, actor=a.actor, action=a.action, entity=a.entity, entity_id=a.entity_id,
                              visit_id=a.visit_id, correction_id=a.correction_id, detail=dict(a.detail))
                    for a in s.scalars(q)]

    def final_receipts(self, recording: str) -> dict[str, Any]:
        """recording.md's receipts.json for the recording, as review has left it."""
        with self._read() as s:
            return final_receipts(s, find_recording(s, recording))

    def export_receipts(self, out: Path, recording: str | None = None) -> list[Path]:
        """Write final receipts: OUT/<recording>/receipts.json each, or OUT itself when it names a .json file
        and there is one recording (or `recording` picks one)."""
        out = Path(out)
        recs = [recording] if recording is not None else self.recordings()
        if not recs:
            raise DatabaseError(f"{describe(self.url)}: holds no recordings (ingest a run first)")
        if out.suffix == ".json":
            if len(recs) > 1:
                raise DatabaseError(f"{out}: one file, but the database holds {len(recs)} recordings "
                                    f"(give a folder, or pick one with --recording)")
            write_json(out, self.final_receipts(recs[0]))
            return [out]
        paths = []
        for r in recs:
            p = out / r / "receipts.json"
            write_json(p, self.final_receipts(r))
            paths.append(p)
        return paths
