"""The review workstation driven like a reviewer drives it: keys and clicks, checked against the database.

Uses tests/review_fixture.py's real small recording (3 cameras' worth of simulated store, processed by the
engine, with receipts and evidence): v-0001 (look-alike line) and v-0002 (ambiguous shopper) are held.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

import review_ui  # noqa: F401 - its refcount guard before any Qt call
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from app.cli import main as cli_main
from labeling.review_db import open_db
from review_fixture import build_review_fixture
from review_ui.background import JobThread
from review_ui.main_window import ReviewWindow
from review_ui.shortcuts import SHORTCUTS, help_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def fixture_dirs(tmp_path_factory) -> tuple[Path, Path]:
    return build_review_fixture(tmp_path_factory.getbasetemp() / "review-fixture")


@pytest.fixture
def db(tmp_path, fixture_dirs):
    d = open_db(tmp_path / "review.db")
    d.ingest_run(fixture_dirs[1])
    yield d
    d.close()


def wait_shown(qtbot, w: ReviewWindow, timeout_ms: int = 8000) -> None:
    qtbot.waitUntil(lambda: w.rview is not None and w.rview.grid.all_shown(), timeout=timeout_ms)


def make_window(qtbot, db, reviewer: str = "ana") -> ReviewWindow:
    w = ReviewWindow(db, reviewer)
    qtbot.addWidget(w)
    w.resize(1600, 950)
    w.show()
    w.activateWindow()
    qtbot.waitExposed(w)
    return w


def key(qtbot, w: ReviewWindow, k, mod=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(w, k, mod)
    QApplication.processEvents()


def shown_exactly(w: ReviewWindow) -> bool:
    """Every camera shows the frame nearest the cursor (or says it has none)."""
    g = w.rview.grid
    for cid, d in g.decoders.items():
        i = d.index_near(w.player.t)
        tile = g.tiles[cid]
        if i is None:
            if tile.message is None or "no frame" not in tile.message:
                return False
        elif tile.frame is None or tile.frame.index != i or tile.message is not None:
            return False
    return True


def test_shortcut_map_is_complete_and_unambiguous():
    keys = [k for s in SHORTCUTS for k in s.keys]
    assert len(keys) == len(set(keys)), "a key bound twice"
    text = help_text()
    for s in SHORTCUTS:
        assert s.help in text


def test_whole_review_by_keys_and_clicks(qtbot, db, fixture_dirs, tmp_path):
    w = make_window(qtbot, db)
    # open: double-click the first held visit in the queue
    table = w.queue.table
    assert table.rowCount() == 2
    rect = table.visualItemRect(table.item(0, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # item views want a press
    with qtbot.waitSignal(w.visitOpened, timeout=5000):
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    key_ = w.key
    assert key_.endswith("/v-0001")
    wait_shown(qtbot, w)
    scene = w.rview.scene
    worst = scene.least_certain()
    assert w.player.t == pytest.approx(worst.t0)  # opens at its least certain moment ...
    best = scene.best_camera(worst)
    if best:
        assert w.rview.grid.enlarged == best  # ... with the best camera for it enlarged
    assert shown_exactly(w)
    assert db.visit(key_).visit.claimed_by == "ana"

    # seek: click the timeline two thirds along
    tl = w.rview.timeline
    qtbot.mouseClick(tl, Qt.MouseButton.LeftButton, pos=QPoint(int(tl.width() * 0.66), tl.height() - 5))
    a, b = w.player.span
    assert a < w.player.t < b and abs(w.player.t - worst.t0) > 0.2
    wait_shown(qtbot, w)
    assert shown_exactly(w)

    # frame steps: Right / Left move by one frame of the enlarged camera; all cameras follow
    times = w.rview.grid.decoders[w.rview.grid.enlarged].times
    i = int(np.argmin(np.abs(times - w.player.t)))
    key(qtbot, w, Qt.Key.Key_Right)
    assert w.player.t == pytest.approx(times[i + 1])
    wait_shown(qtbot, w)
    assert shown_exactly(w)
    key(qtbot, w, Qt.Key.Key_Left)
    key(qtbot, w, Qt.Key.Key_Left)
    assert w.player.t == pytest.approx(times[i - 1])
    wait_shown(qtbot, w)
    # speed keys and play
    key(qtbot, w, Qt.Key.Key_BracketRight)
    assert w.player.speed == 2.0
    key(qtbot, w, Qt.Key.Key_Space)
    assert w.player.playing
    t0 = w.player.t
    qtbot.wait(400)
    key(qtbot, w, Qt.Key.Key_Space)
    assert not w.player.playing and w.player.t > t0 + 0.3

    # correct: the first line's alternative 1 is its look-alike product
    view = db.visit(key_)
    line = view.live_lines[0]
    alt = w.receipt.choices[line.id][0]
    assert alt.field == "sku" and alt.value != line.sku
    w.receipt.select_line(line.id)
    key(qtbot, w, Qt.Key.Key_1)
    assert db.visit(key_).lines[0].sku == alt.value, w.messages
    key(qtbot, w, Qt.Key.Key_Plus)  # one more
    assert db.visit(key_).lines[0].qty == line.qty + 1
    # undo, undo, redo
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert db.visit(key_).lines[0].qty == line.qty
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert db.visit(key_).lines[0].sku == line.sku
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert db.visit(key_).lines[0].sku == alt.value
    assert w.stack().index() == 1 and w.stack().count() == 2

    # add a missed item at the cursor (the catalog search dialog answered by the test)
    sku_add = scene.rec.catalog.products[-1].sku
    w.ask_product = lambda title: sku_add
    t_add = w.player.t
    key(qtbot, w, Qt.Key.Key_A)
    added = [ln for ln in db.visit(key_).live_lines if ln.origin == "reviewer"]
    assert len(added) == 1 and added[0].sku == sku_add and added[0].t == pytest.approx(t_add)

    # the unexplained load change: N goes through the doubtful events to it, X says "no event"
    unexplained = next(e for e in view.events if e.kind == "unexplained")
    for _ in range(len(view.events) + 1):
        key(qtbot, w, Qt.Key.Key_N)
        if w.rview.selected is not None and w.rview.selected.key == unexplained.key:
            break
    assert w.rview.selected.key == unexplained.key
    assert w.player.t == pytest.approx(unexplained.t0)
    key(qtbot, w, Qt.Key.Key_X)
    assert next(e for e in db.visit(key_).events if e.key == unexplained.key).no_event

    # confirm with Ctrl+Enter: the visit is final, as corrected
    key(qtbot, w, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert db.visit(key_).visit.final_status == "corrected"

    # the database and the exported receipts hold exactly those decisions, each in the audit log
    live = [c for c in db.corrections() if not c.undone]  # (an unexplained event belongs to no visit)
    assert [c.kind for c in live] == ["change_line", "add_line", "no_event", "confirm"]
    assert all(c.reviewer == "ana" for c in live)
    actions = [a.action for a in db.audit_log(key_)]
    assert actions.count("change_line") == 2 and actions.count("undo") == 2 and actions.count("redo") == 1
    assert "confirm" in actions and all(a.actor == "ana" for a in db.audit_log(key_) if not a.action.startswith("ingest"))
    rec_key = key_.rsplit("/", 1)[0]
    paths = db.export_receipts(tmp_path / "out", recording=rec_key)
    doc = json.loads(Path(paths[0]).read_text())
    v1 = next(v for v in doc["visits"] if v["visit"] == "v-0001")
    assert v1["status"] == "corrected"
    skus = sorted(ln["sku"] for ln in v1["lines"])
    want = sorted([alt.value, *[ln.sku for ln in view.live_lines[1:]], sku_add])
    assert skus == want
    w.close()


def test_keys_exist_for_every_action(qtbot, db):
    w = make_window(qtbot, db)
    for s in SHORTCUTS:
        assert [k.toString() for k in w.actions[s.action].shortcuts()], s.action
    w.trigger("help")  # `?`
    assert w.help_dialog.isVisible()
    from PySide6.QtWidgets import QTextBrowser

    text = w.help_dialog.findChild(QTextBrowser).toPlainText()
    assert "Ctrl+Z" in text and "next doubtful event" in text
    w.close()


def test_engineer_layers_and_truth(qtbot, db):
    w = make_window(qtbot, db)
    w.next_visit()
    wait_shown(qtbot, w)
    key(qtbot, w, Qt.Key.Key_F7)  # all engineer layers
    assert w.layers.detections and w.layers.keypoints and w.layers.truth
    assert "truth:" in w.receipt.truth.text()  # the truth's receipt beside the engine's
    img = w.rview.grid.tiles[w.rview.grid.enlarged].grab().toImage()
    assert not img.isNull()
    key(qtbot, w, Qt.Key.Key_F7)
    assert not w.layers.any_engineer()
    w.close()


# -- bad input ----------------------------------------------------------------------------------------------


def _broken_copy(tmp: Path, fixture_dirs, cam_fix) -> tuple[Path, Path]:
    """A copy of the fixture's recording and run where one camera's video is broken by `cam_fix(path)`."""
    rec0, run0 = fixture_dirs
    rec, run = tmp / "rec", tmp / "run"
    shutil.copytree(rec0, rec, ignore=shutil.ignore_patterns("*.depth.mkv"))
    shutil.copytree(run0, run)
    m = json.loads((run / "run.json").read_text())
    m["recording_path"] = str(rec)
    (run / "run.json").write_text(json.dumps(m))
    cams = json.loads((rec / "cameras" / "cameras.json").read_text())
    for c in cams["cameras"]:
        c["depth"] = None
    (rec / "cameras" / "cameras.json").write_text(json.dumps(cams))
    cam_fix(rec / "cameras" / cams["cameras"][0]["video"])
    return rec, run


@pytest.mark.parametrize("how", ["missing", "truncated"])
def test_broken_video_says_so_in_its_tile(qtbot, tmp_path, fixture_dirs, how):
    def fix(p: Path) -> None:
        if how == "missing":
            p.unlink()
        else:
            data = p.read_bytes()
            p.write_bytes(data[: len(data) // 3])
    rec, run = _broken_copy(tmp_path, fixture_dirs, fix)
    db = open_db(tmp_path / "review.db")
    db.ingest_run(run)
    w = make_window(qtbot, db)
    w.next_visit()
    g = w.rview.grid
    first = next(iter(g.tiles))
    qtbot.waitUntil(lambda: g.tiles[first].message is not None and "mp4" in g.tiles[first].message
                    or (g.decoders[first].error is not None), timeout=8000)
    msg = g.tiles[first].message or ""
    assert "cam" in msg and ("missing" in msg or "truncated" in msg or "corrupt" in msg or "cannot" in msg), msg
    others = [c for c in g.tiles if c != first]
    qtbot.waitUntil(lambda: all(g.tiles[c].frame is not None for c in others), timeout=8000)
    # the app goes on: seek, decide, and it is saved
    w.player.seek(w.player.span[0] + 1.0)
    qtbot.waitUntil(lambda: all(g.tiles[c].frame is not None and g.tiles[c].frame.index ==
                                g.decoders[c].index_near(w.player.t) for c in others
                                if g.decoders[c].index_near(w.player.t) is not None), timeout=8000)
    w.trigger("confirm")
    assert db.visit(w.key).visit.final_status in ("confirmed", "corrected")
    w.close()
    db.close()


def test_unreadable_database_cli_exit_2(tmp_path, capsys):
    bad = tmp_path / "review.db"
    bad.write_bytes(b"this is not a database" * 100)
    rc = cli_main(["review", "--db", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(bad) in err and "database" in err
    assert bad.read_bytes() == b"this is not a database" * 100  # untouched


def test_unreadable_database_in_the_app(qtbot, tmp_path):
    """Started from a menu there is no terminal: the same message comes as a dialog."""
    from app.review_app import startup_error_box
    from labeling.errors import DatabaseError

    bad = tmp_path / "review.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DatabaseError) as e:
        open_db(bad)
    box = startup_error_box(str(e.value))
    qtbot.addWidget(box)
    assert str(bad) in box.text() and "database" in box.text()


def test_newer_run_format_cli_exit_2_and_in_app(qtbot, tmp_path, fixture_dirs, capsys, db):
    run = tmp_path / "newer-run"
    shutil.copytree(fixture_dirs[1], run)
    m = json.loads((run / "run.json").read_text())
    m["format"] = "walkout-run/99"
    (run / "run.json").write_text(json.dumps(m))
    rc = cli_main(["review", "--db", str(tmp_path / "other.db"), "--run", str(run)])
    err = capsys.readouterr().err
    assert rc == 2 and "walkout-run/99" in err
    # in the app: the run of an ingested visit has become newer: the cameras still play, the banner says why
    shutil.copytree(fixture_dirs[1], tmp_path / "moved", dirs_exist_ok=True)
    w = make_window(qtbot, db)
    real = Path(db.visit(db.queue()[0].key).run_path)
    saved = (real / "run.json").read_text()
    try:
        (real / "run.json").write_text(json.dumps(m))
        w.next_visit()
        wait_shown(qtbot, w)
        assert any("walkout-run/99" in x for x in w.messages)
        assert w.rview.problems.isVisible() or "walkout-run/99" in w.rview.problems.text()
    finally:
        (real / "run.json").write_text(saved)
    w.close()


def test_background_job_progress_and_cancel(qtbot):
    seen: list[float] = []

    def job(progress, cancelled):
        for k in range(200):
            progress("work", k / 200)
            time.sleep(0.005)
        return "finished"
    th = JobThread(job)
    th.progressed.connect(lambda s, f: seen.append(f))
    with qtbot.waitSignal(th.succeeded, timeout=10000) as sig:
        th.start()
    assert sig.args == ["finished"] and seen
    th2 = JobThread(job)
    with qtbot.waitSignal(th2.failed, timeout=10000) as sig:
        th2.start()
        qtbot.wait(100)
        th2.cancel()
    assert "cancelled" in sig.args[0]
    th.wait()
    th2.wait()


def test_demo_review_step_headless(tmp_path, fixture_dirs, capsys):
    from app.review_app import demo_review

    assert demo_review(tmp_path, fixture_dirs[1], None, window=False) == 0
    out = capsys.readouterr().out
    assert "2 held for review" in out and "walkout review --db" in out
    with open_db(tmp_path / "review.db") as d:
        assert len(d.queue()) == 2


def test_closing_the_window_hands_the_open_visit_back_to_the_queue(qtbot, db):
    """Ana closes the workstation on a visit she claimed and did not decide: it is free for a colleague at once
    (audited as a release), not blocked until the claim lapses. A visit bo holds, opened read-only, stays his."""
    w = make_window(qtbot, db, "ana")
    w.next_visit()
    mine = w.key
    others = [q.key for q in db.queue() if q.key != mine]
    assert others and db.claim(others[0], "bo")
    assert [q.claimed_by for q in db.queue(include_claimed=True) if q.key == mine] == ["ana"]
    w.close()
    assert [q.claimed_by for q in db.queue(include_claimed=True) if q.key == mine] == [None]
    assert "release" in [a.action for a in db.audit_log(mine)]
    w2 = make_window(qtbot, db, "ana")
    assert w2.open_visit(others[0])
    w2.close()
    assert [q.claimed_by for q in db.queue(include_claimed=True) if q.key == others[0]] == ["bo"]


def test_closing_a_window_leaves_no_timer_behind(qtbot, db):
    """A timer armed by a window must die with it: one that fired into a deleted grid raised 'Signal source has
    been deleted' in whichever test ran the event loop next (flaky in CI)."""
    w = ReviewWindow(db, "ana")  # not handed to qtbot: this test deletes it itself
    w.resize(1600, 950)
    w.show()
    qtbot.waitExposed(w)
    w.next_visit()
    qtbot.waitUntil(w.rview.grid.all_shown, timeout=8000)
    w.close()
    w.deleteLater()  # as at the end of a session: the window and its grid go before their 30 ms and 400 ms timers
    with qtbot.captureExceptions() as raised:
        qtbot.wait(600)
    assert not raised, raised


def test_no_timer_without_an_owner():
    """Every single-shot timer in the UI names the object it belongs to, so Qt drops it with that object."""
    import re

    root = Path(__file__).resolve().parents[1]
    bare = []
    for f in list((root / "review_ui").glob("*.py")) + list((root / "app").glob("*.py")):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            m = re.search(r"QTimer\.singleShot\(([^,]+),\s*([^,)]+)\)", line)
            if m:
                bare.append(f"{f.name}:{n}: {line.strip()}")
    assert not bare, "single-shot timers with no context object:\n" + "\n".join(bare)
