"""The review database (labeling/): schema and migrations, ingest, queue, claims, decisions, undo, audit."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, func, select, text
from sqlalchemy.orm import Session

from data.errors import InputError
from labeling import claims
from labeling.database import default_db_path, default_url
from labeling.errors import DatabaseError, DecisionError, NotFoundError
from labeling.models import AuditEntry, Base, Correction, Event, ReceiptLine, Review, Visit, VisitReason
from labeling.review_db import open_db
from review_fixture import build_review_fixture

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def review_run(tmp_path_factory) -> tuple[Path, Path]:
    return build_review_fixture(tmp_path_factory.getbasetemp() / "review-fixture")


PG_URL = os.environ.get("WALKOUT_TEST_PG")
needs_pg = pytest.mark.skipif(not PG_URL, reason="set WALKOUT_TEST_PG to a PostgreSQL URL (packaging/postgres_dev.sh)")


def reset_pg(url: str) -> None:
    """Empty the PostgreSQL test database: every table in it dropped (so the tests can be rerun)."""
    eng = create_engine(url)
    try:
        with eng.begin() as c:
            c.execute(text("SELECT pg_advisory_xact_lock(7454001)"))  # not while another test run resets it
            md = MetaData()
            md.reflect(c)
            md.drop_all(c)
    finally:
        eng.dispose()


@pytest.fixture
def pg_url() -> str:
    assert PG_URL
    reset_pg(PG_URL)
    return PG_URL


# every test on the `db` fixture runs on SQLite, and on PostgreSQL too when WALKOUT_TEST_PG is set
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=needs_pg)])
def db(request, tmp_path, review_run):
    d = open_db(tmp_path / "review.db" if request.param == "sqlite" else request.getfixturevalue("pg_url"))
    d.ingest_run(review_run[1])
    yield d
    d.close()


def _count(db, model, *where) -> int:
    with db.engine.connect() as c:
        return c.scalar(select(func.count()).select_from(model).where(*where))


def _held(db) -> list[str]:
    return [q.key for q in db.queue(include_claimed=True)]


# -- schema ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=needs_pg)])
def test_migrations_give_the_models_schema(tmp_path, request, backend):
    db = open_db(tmp_path / "m.db" if backend == "sqlite" else request.getfixturevalue("pg_url"))
    with db.engine.connect() as c:
        diffs = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata)
    assert diffs == []
    db.close()


def test_default_database_is_per_user(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "xdg" / "walkout" / "review.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / ".local" / "share" / "walkout" / "review.db"
    assert default_url().endswith("home/.local/share/walkout/review.db")
    db = open_db()
    assert (tmp_path / "home" / ".local" / "share" / "walkout" / "review.db").exists()
    db.close()


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path):
    db = open_db(tmp_path / "p.db")
    with db.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    db.close()


def test_garbage_file_is_refused_with_its_name(tmp_path):
    bad = tmp_path / "broken.db"
    bad.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(DatabaseError, match="broken.db") as e:
        open_db(bad)
    assert isinstance(e.value, InputError) and "not a database" in str(e.value)
    r = subprocess.run([sys.executable, "-m", "app.cli", "queue", "--db", str(bad)], capture_output=True, text=True,
                       cwd=REPO)
    assert r.returncode == 2 and "broken.db" in r.stderr and "Traceback" not in r.stderr


def test_another_programs_database_is_not_touched(tmp_path):
    p = tmp_path / "other.db"
    with sqlite3.connect(p) as c:
        c.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(DatabaseError, match="not a walkout review database"):
        open_db(p)
    with sqlite3.connect(p) as c:
        assert [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["invoices"]


def test_a_newer_schema_is_refused(tmp_path):
    p = tmp_path / "newer.db"
    open_db(p).close()
    with sqlite3.connect(p) as c:
        c.execute("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(DatabaseError, match="newer than this walkout") as e:
        open_db(p)
    assert str(p) in str(e.value)


def test_a_run_of_a_newer_format_is_refused_clearly(tmp_path, review_run):
    run = tmp_path / "run"
    shutil.copytree(review_run[1], run)
    r = json.loads((run / "receipts.json").read_text())
    r["format"] = "walkout-receipts/2"
    (run / "receipts.json").write_text(json.dumps(r))
    db = open_db(tmp_path / "r.db")
    with pytest.raises(InputError, match="receipts.json.*walkout-receipts/2"):
        db.ingest_run(run)
    m = json.loads((run / "run.json").read_text())
    m["format"] = "walkout-run/9"
    (run / "run.json").write_text(json.dumps(m))
    r = subprocess.run([sys.executable, "-m", "app.cli", "ingest", str(run), "--db", str(tmp_path / "r.db")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "run.json" in r.stderr and "walkout-run/9" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert _count(db, Visit) == 0
    db.close()


# -- ingest ---------------------------------------------------------------------------------------------------

def test_ingest_is_idempotent(tmp_path, review_run):
    db = open_db(tmp_path / "i.db")
    keys = db.ingest_run(review_run[1])
    rec = json.loads((review_run[1] / "receipts.json").read_text())
    ev = json.loads((review_run[1] / "evidence.json").read_text())
    assert keys == [f"{rec['recording']}/{v['visit']}" for v in rec["visits"]]
    counts = [_count(db, m) for m in (Visit, ReceiptLine, Event, AuditEntry)]
    assert counts[:3] == [len(rec["visits"]), sum(len(v["lines"]) for v in rec["visits"]), len(ev["events"])]
    assert db.ingest_run(review_run[1]) == []
    assert [_count(db, m) for m in (Visit, ReceiptLine, Event, AuditEntry)] == counts
    view = db.visit(keys[0])
    assert view.run_path == review_run[1].resolve() and view.recording_path == review_run[0].resolve()
    assert view.lines[0].alternatives and view.lines[0].events
    assert any(e.kind == "unexplained" for e in view.events)  # nobody's event, in this visit's time
    assert view.lines[0].sku in view.products and view.products[view.lines[0].sku].name
    db.close()


def test_a_later_run_replaces_only_untouched_visits(db, tmp_path, review_run):
    first, second = _held(db)[:2]
    assert db.claim(first, "ana")
    run2 = tmp_path / "run2"
    shutil.copytree(review_run[1], run2)
    added = db.ingest_run(run2)
    assert first not in added and second in added
    assert db.visit(first).run_path == review_run[1].resolve()
    assert db.visit(second).run_path == run2.resolve()
    assert db.visit(second).events  # the new run's events are linked to it


def test_a_run_processed_again_into_its_folder_refreshes_what_nobody_touched(tmp_path, review_run):
    """The same run folder ingested again after `process` rewrote it: an untouched visit and event take the new
    confidence, a claimed visit and its events keep the old one, an event the run no longer has goes; again:
    nothing."""
    run = tmp_path / "run"
    shutil.copytree(review_run[1], run)
    db = open_db(tmp_path / "again.db")
    first, second = db.ingest_run(run)[:2]
    assert db.claim(first, "ana")
    rec = json.loads((run / "receipts.json").read_text())
    before = {v["visit"]: v["confidence"] for v in rec["visits"]}
    for v in rec["visits"]:
        v["confidence"] = round(v["confidence"] / 2, 4)
    (run / "receipts.json").write_text(json.dumps(rec))
    ev = json.loads((run / "evidence.json").read_text())
    gone = ev["events"].pop()["id"]
    ev["events"][0]["confidence"] = 0.123
    claimed = {e["id"]: e["confidence"] for e in ev["events"] if e["visit"] == first.split("/")[-1]}
    assert claimed
    for e in ev["events"]:
        if e["id"] in claimed:
            e["confidence"] = 0.456
    (run / "evidence.json").write_text(json.dumps(ev))
    added = db.ingest_run(run)
    assert second in added and first not in added
    assert db.visit(first).visit.engine_confidence == before[first.split("/")[-1]]
    assert db.visit(second).visit.engine_confidence == round(before[second.split("/")[-1]] / 2, 4)
    with db.engine.connect() as c:
        events = dict(c.execute(select(Event.key, Event.confidence)).all())
    assert gone not in events and len(events) == len(ev["events"])
    assert events[ev["events"][0]["id"]] == 0.123
    assert {k: events[k] for k in claimed} == claimed
    assert db.ingest_run(run) == []
    db.close()


def _drops_a_vanished_visit(db, run: Path) -> None:
    """Process rewrote the folder and two of its visits are gone (tracks joined, say): the untouched one leaves
    the database with its lines, audited; the claimed one stays as the reviewer has it."""
    keys = db.ingest_run(run)
    assert len(keys) >= 3
    claimed, dropped = keys[0], keys[-1]
    assert db.claim(claimed, "ana")
    gone = {claimed.split("/")[-1], dropped.split("/")[-1]}
    rec = json.loads((run / "receipts.json").read_text())
    rec["visits"] = [v for v in rec["visits"] if v["visit"] not in gone]
    (run / "receipts.json").write_text(json.dumps(rec))
    db.ingest_run(run)
    with pytest.raises(NotFoundError):
        db.visit(dropped)
    assert db.visit(claimed).visit.claimed_by == "ana"
    assert [a.action for a in db.audit_log()].count("drop_visit") == 1
    with db.engine.connect() as c:
        assert not c.execute(select(Visit.id).where(Visit.key == dropped.split("/")[-1])).all()
        assert c.execute(select(ReceiptLine.id).join(Visit)).all()
        assert not c.execute(select(Event.id).where(Event.visit_key == dropped.split("/")[-1],
                                                    Event.visit_id.is_not(None))).all()
    assert db.ingest_run(run) == []
    db.close()


def test_a_run_processed_again_without_a_visit_drops_it_unless_someone_touched_it(tmp_path, review_run):
    run = tmp_path / "run"
    shutil.copytree(review_run[1], run)
    _drops_a_vanished_visit(open_db(tmp_path / "drop.db"), run)


@needs_pg
def test_postgresql_a_run_processed_again_without_a_visit_drops_it(pg_url, tmp_path, review_run):
    run = tmp_path / "run"
    shutil.copytree(review_run[1], run)
    _drops_a_vanished_visit(open_db(pg_url), run)


# -- queue and claims -----------------------------------------------------------------------------------------

def test_queue_holds_review_visits_oldest_first_and_filters(db):
    q = db.queue()
    assert [i.visit for i in q] == ["v-0001", "v-0002"]
    assert [i.entered_at for i in q] == sorted(i.entered_at for i in q)
    assert all(i.claimed_by is None and i.lines >= 1 for i in q)
    assert [i.visit for i in db.queue(reason="tangled-state")] == ["v-0002"]
    assert db.queue(reason="camera-gap") == []
    assert [i.visit for i in db.queue(max_confidence=0.6)] == ["v-0002"]
    assert len(db.queue(store="corner-store")) == 2 and db.queue(store="go-store") == []
    db.claim(q[0].key, "ana")
    assert [i.visit for i in db.queue()] == ["v-0002"]
    both = db.queue(include_claimed=True)
    assert both[0].claimed_by == "ana" and both[0].claimed_until is not None
    db.confirm(q[1].key, "bo")
    assert [i.visit for i in db.queue(include_claimed=True)] == ["v-0001"]


def test_two_connections_racing_for_a_claim_exactly_one_wins(tmp_path, review_run):
    p = tmp_path / "race.db"
    a, b = open_db(p), open_db(p)
    a.ingest_run(review_run[1])
    keys = _held(a)
    for rnd in range(6):
        key = keys[rnd % len(keys)]
        go = threading.Barrier(2)
        won: dict[str, bool] = {}

        def race(db, name):
            go.wait()
            won[name] = db.claim(key, name)

        ts = [threading.Thread(target=race, args=(a, "ana")), threading.Thread(target=race, args=(b, "bo"))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(won.values()) == [False, True], won
        winner = next(n for n, w in won.items() if w)
        assert a.queue(include_claimed=True)[rnd % len(keys)].claimed_by == winner
        assert (a if winner == "ana" else b).release(key, winner)
    a.close()
    b.close()


def test_claim_next_hands_out_different_visits_and_claims_lapse(db):
    clock = [db.clock()]
    db.clock = lambda: clock[0]
    one = db.claim_next("ana", lapse_s=60)
    two = db.claim_next("bo", lapse_s=60)
    assert one and two and one.key != two.key and one.claimed_by == "ana"
    assert db.claim_next("cy") is None
    assert db.claim_next("ana", lapse_s=60).key == one.key  # already hers: handed back to her
    assert not db.claim(one.key, "bo")
    clock[0] += timedelta(seconds=61)
    assert db.claim(one.key, "bo")  # ana's claim lapsed
    with pytest.raises(DecisionError, match="claimed by bo"):
        db.confirm(one.key, "ana")
    with db.engine.connect() as c:
        outcomes = c.execute(select(Review.outcome).join(Visit).where(Visit.id == one.id).order_by(Review.id)).all()
    assert [o for (o,) in outcomes] == ["lapsed", None]
    assert db.release(one.key, "bo") and not db.release(one.key, "bo")
    assert [a.action for a in db.audit_log(one.key)][-3:] == ["claim", "claim", "release"]


# -- decisions ------------------------------------------------------------------------------------------------

def test_each_decision_is_corrected_undone_redone_and_audited(db):
    v1, v2 = _held(db)
    assert db.claim(v1, "ana")
    line = db.visit(v1).lines[0]
    alt = line.alternatives[0].value
    audit0 = len(db.audit_log())

    c1 = db.change_line(line.id, "ana", sku=alt)
    after = db.visit(v1).lines[0]
    assert after.sku == alt and after.price_cents == db.visit(v1).products[alt].price_cents
    c = db.correction(c1)
    assert (c.kind, c.entity, c.entity_id, c.reviewer) == ("change_line", "line", line.id, "ana")
    assert c.before["sku"] == line.sku and c.after["sku"] == alt
    assert [a.correction_id for a in db.audit_log()[audit0:]] == [c1]
    db.undo(c1, "ana")
    assert db.visit(v1).lines[0].sku == line.sku and db.correction(c1).undone
    db.redo(c1, "ana")
    assert db.visit(v1).lines[0].sku == alt and not db.correction(c1).undone
    with pytest.raises(DecisionError, match="not undone"):
        db.redo(c1, "ana")

    c2 = db.change_line(line.id, "ana", qty=3)
    assert db.visit(v1).lines[0].qty == 3
    db.undo(c2, "ana")
    assert db.visit(v1).lines[0].qty == line.qty
    c2b = db.change_line(line.id, "ana", sku=line.sku)
    with pytest.raises(DecisionError, match="changed after correction"):
        db.undo(c1, "ana")  # a later decision changed the same field: it must be undone first
    db.undo(c2b, "ana")
    db.undo(c1, "ana")
    db.redo(c1, "ana")

    c3 = db.change_line(line.id, "ana", visit=v2)  # the other shopper took it
    assert not db.visit(v1).live_lines and any(ln.id == line.id for ln in db.visit(v2).lines)
    db.undo(c3, "ana")
    assert db.visit(v1).lines[0].id == line.id

    c4 = db.delete_line(line.id, "ana")
    assert db.visit(v1).lines[0].deleted and db.final_receipts(db.visit(v1).visit.recording)["visits"][0]["lines"] == []
    db.undo(c4, "ana")
    assert not db.visit(v1).lines[0].deleted

    c5 = db.add_line(v1, line.sku, 1, 5.0, "ana")
    added = db.visit(v1).lines[-1]
    assert (added.origin, added.t, added.confidence, added.id) == ("reviewer", 5.0, None, db.correction(c5).entity_id)
    db.undo(c5, "ana")
    assert db.visit(v1).lines[-1].deleted
    db.redo(c5, "ana")

    ev = next(e for e in db.visit(v1).events if e.visit == "v-0001")
    c6 = db.mark_no_event(ev.id, "ana")
    assert next(e for e in db.visit(v1).events if e.id == ev.id).no_event
    db.undo(c6, "ana")
    assert not next(e for e in db.visit(v1).events if e.id == ev.id).no_event

    c7 = db.confirm(v1, "ana")
    info = db.visit(v1).visit
    assert info.final_status == "corrected" and info.claimed_by is None
    with pytest.raises(DecisionError, match="already corrected"):
        db.delete_line(line.id, "ana")
    db.undo(c7, "bo")  # reopened, and now bo's
    assert db.visit(v1).visit.final_status == "pending" and db.visit(v1).visit.claimed_by == "bo"
    db.redo(c7, "bo")
    assert db.visit(v1).visit.final_status == "corrected"

    actions = [a.action for a in db.audit_log(v1)]
    for kind in ("change_line", "delete_line", "add_line", "no_event", "confirm", "undo", "redo", "claim"):
        assert kind in actions
    assert _count(db, Correction) == 8
    assert all(a.actor in ("ana", "bo", "ingest") for a in db.audit_log())


def test_confirm_without_changes_is_confirmed_and_bad_input_is_named(db):
    v1, v2 = _held(db)
    line = db.visit(v2).lines[0]
    with pytest.raises(NotFoundError, match="sku-9999"):
        db.change_line(line.id, "ana", sku="sku-9999")
    with pytest.raises(DecisionError, match="qty"):
        db.change_line(line.id, "ana", qty=0)
    with pytest.raises(DecisionError, match="nothing to change"):
        db.change_line(line.id, "ana", sku=line.sku)
    with pytest.raises(DecisionError, match="t must be"):
        db.add_line(v2, line.sku, 1, 1e6, "ana")
    with pytest.raises(NotFoundError, match="v-0404"):
        db.visit("v-0404")
    with pytest.raises(NotFoundError, match="line 999999"):
        db.delete_line(999999, "ana")
    assert db.correction(db.confirm(v2, "ana")).after == {"final_status": "confirmed"}
    assert db.visit(v2).visit.final_status == "confirmed"


def test_someone_elses_claim_blocks_decisions(db):
    v1, _ = _held(db)
    assert db.claim(v1, "ana")
    line = db.visit(v1).lines[0]
    with pytest.raises(DecisionError, match="claimed by ana"):
        db.delete_line(line.id, "bo")
    assert not db.visit(v1).lines[0].deleted


def test_a_decision_is_committed_before_the_call_returns(db):
    v1, _ = _held(db)
    line = db.visit(v1).lines[0]
    cid = db.delete_line(line.id, "ana")
    # another process (or the workstation after a crash) sees it at once
    code = (f"import sqlalchemy as sa; c = sa.create_engine({db.url!r}).connect(); "
            f"print(int(c.scalar(sa.text('SELECT deleted FROM receipt_lines WHERE id = {line.id}'))), "
            f"c.scalar(sa.text('SELECT count(*) FROM corrections WHERE id = {cid}')), "
            f"c.scalar(sa.text('SELECT count(*) FROM audit_log WHERE correction_id = {cid}')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1", "1", "1"]
    other = open_db(db.url)
    assert other.visit(v1).lines[0].deleted
    other.close()


def test_final_receipts_keep_auto_and_review_statuses(db):
    rec = db.recordings()[0]
    v1, v2 = _held(db)
    db.confirm(v1, "ana")
    r = db.final_receipts(rec)
    status = {v["visit"]: v["status"] for v in r["visits"]}
    assert status == {"v-0001": "confirmed", "v-0002": "review", "v-0003": "auto"}
    assert r["format"] == "walkout-receipts/1" and r["recording"] == rec


def test_cli_ingest_and_queue(tmp_path, review_run):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run = lambda *a: subprocess.run([sys.executable, "-m", "app.cli", *a], capture_output=True, text=True,
                                    cwd=REPO)
    r = run("ingest", str(review_run[1]), "--db", url)
    assert r.returncode == 0 and "3 visits added, 2 of them held" in r.stdout, r.stdout + r.stderr
    assert "nothing added" in run("ingest", str(review_run[1]), "--db", url).stdout
    r = run("queue", "--db", url, "--reason", "look-alike")
    assert r.returncode == 0 and "v-0001" in r.stdout and "v-0002" not in r.stdout and "1 held visits" in r.stdout
    r = run("ingest", str(tmp_path / "nope"), "--db", url)
    assert r.returncode == 2 and "nope" in r.stderr and "Traceback" not in r.stderr


# -- PostgreSQL (WALKOUT_TEST_PG; CI has no server, so these skip there) ----------------------------------------

@needs_pg
def test_postgresql_claims_and_decisions(pg_url, review_run):
    a, b = open_db(pg_url), open_db(pg_url)
    a.ingest_run(review_run[1])
    assert a.ingest_run(review_run[1]) == []
    one, two = a.claim_next("ana"), b.claim_next("bo")
    assert one and two and one.key != two.key
    assert one.claimed_until.tzinfo is not None and one.claimed_until > a.clock()
    assert not b.claim(one.key, "bo")
    cid = a.delete_line(a.visit(one.key).lines[0].id, "ana")
    a.undo(cid, "ana")
    assert a.correction(cid).undone and a.confirm(one.key, "ana")
    assert b.visit(one.key).visit.final_status == "confirmed"
    a.close()
    b.close()
    again = open_db(pg_url)  # an existing database at this schema opens without migrating again
    assert again.visit(one.key).visit.final_status == "confirmed"
    again.close()


def _more_held_visits(db, n: int) -> None:
    """n more held visits in the first visit's recording and run (the fixture run holds only two)."""
    with Session(db.engine) as s, s.begin():
        first = s.scalars(select(Visit).order_by(Visit.id)).first()
        for i in range(n):
            v = Visit(recording_id=first.recording_id, run_id=first.run_id, key=f"x-{i:04d}", account=None,
                      entered_at=100.0 + i, exited_at=None, engine_status="review", engine_confidence=0.5,
                      reasons=["look-alike"], tracks=[], final_status="pending")
            s.add(v)
            s.flush()
            s.add(VisitReason(visit_id=v.id, reason="look-alike"))


@needs_pg
def test_postgresql_concurrent_claim_next_never_hands_out_a_visit_twice(pg_url, review_run):
    a, b = open_db(pg_url), open_db(pg_url)  # two engines: separate connections, as two workstations
    a.ingest_run(review_run[1])
    _more_held_visits(a, 60)
    held = set(_held(a))
    assert len(held) == 62
    got: dict[str, list[str]] = {"ana": [], "bo": []}
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def reviewer(db, name):
        try:
            go.wait()
            while True:
                item = db.claim_next(name, lapse_s=600)
                if item is None:
                    return
                assert item.claimed_by == name
                got[name].append(item.key)
                db.confirm(item.key, name)  # decided: off the queue, so the next claim_next gives another
        except BaseException as e:  # noqa: BLE001 - reported below, from the test's thread
            errors.append(e)

    ts = [threading.Thread(target=reviewer, args=(a, "ana")), threading.Thread(target=reviewer, args=(b, "bo"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors
    assert not set(got["ana"]) & set(got["bo"])
    assert len(got["ana"]) == len(set(got["ana"])) and len(got["bo"]) == len(set(got["bo"]))
    assert set(got["ana"]) | set(got["bo"]) == held  # nobody was told "queue empty" while visits were free
    assert got["ana"] and got["bo"]
    assert a.queue(include_claimed=True) == []
    with a.engine.connect() as c:  # each visit claimed once, by one reviewer
        claims = c.execute(select(AuditEntry.visit_id, func.count()).where(AuditEntry.action == "claim")
                           .group_by(AuditEntry.visit_id)).all()
    assert len(claims) == 62 and all(n == 1 for _, n in claims)
    a.close()
    b.close()


@needs_pg
def test_postgresql_claim_next_skips_a_locked_visit_instead_of_waiting(pg_url, review_run):
    a, b = open_db(pg_url), open_db(pg_url)
    a.ingest_run(review_run[1])
    _more_held_visits(a, 3)
    first, second = _held(a)[:2]
    first_id = a.queue()[0].id
    got: list = []
    with a.engine.connect() as c:  # another reviewer's transaction is in the middle of claiming the oldest
        c.execute(text("SELECT id FROM visits WHERE id = :i FOR UPDATE"), {"i": first_id})
        t = threading.Thread(target=lambda: got.append(b.claim_next("bo")))
        t0 = time.monotonic()
        t.start()
        t.join(5.0)
        waited = t.is_alive()
        c.rollback()  # lets a claim_next that waited for the lock go on, so the test fails instead of hanging
        t.join()
    assert not waited, "claim_next waited for a locked visit instead of skipping it"
    assert got[0] is not None and got[0].key == second and time.monotonic() - t0 < 5.0
    assert a.claim_next("ana").key == first
    a.close()
    b.close()


@needs_pg
def test_postgresql_claim_next_in_flight_locks_only_the_visit_it_takes(pg_url, review_run):
    a, b = open_db(pg_url), open_db(pg_url)
    a.ingest_run(review_run[1])
    first, second = _held(a)
    rid = a._reviewer("ana")
    with Session(a._writer) as s, s.begin():  # ana's claim_next, not yet committed
        v = claims.claim_next(s, rid, "ana", a.clock(), 60.0, None, None, None)
        assert v is not None and v.key == first.split("/")[1]
        other = b.claim_next("bo")  # is not told "queue empty", and is not made to wait
        assert other is not None and other.key == second
    assert a.queue(include_claimed=True)[0].claimed_by == "ana"
    a.close()
    b.close()


OPEN_WHEN_TOLD = """
import sys, time
from pathlib import Path
from labeling.review_db import open_db
d = Path(sys.argv[2]); (d / f"ready-{sys.argv[3]}").touch()
while not (d / "go").exists():
    time.sleep(0.005)
open_db(sys.argv[1]).close()
"""


@needs_pg
def test_postgresql_workstations_opening_a_new_database_at_once_all_succeed(pg_url, tmp_path):
    for rnd in range(2):
        reset_pg(pg_url)
        d = tmp_path / f"round{rnd}"
        d.mkdir()
        ps = [subprocess.Popen([sys.executable, "-c", OPEN_WHEN_TOLD, pg_url, str(d), str(i)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
        deadline = time.monotonic() + 60
        while len(list(d.glob("ready-*"))) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        (d / "go").touch()
        outs = [p.communicate(timeout=60) for p in ps]
        assert [p.returncode for p in ps] == [0] * 4, [err for _, err in outs]
        with create_engine(pg_url).connect() as c:
            assert c.scalar(text("SELECT count(*) FROM alembic_version")) == 1

