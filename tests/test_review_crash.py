"""Kill the workstation mid-review (SIGKILL: no cleanup, no atexit) and reopen: every decision made is there.

The real `walkout review` runs in its own process (offscreen) and a scripted reviewer
(review_ui/script_hook.py) presses keys; it logs each action after the window handled it. We kill the
process in the middle of the script, then reopen the database and the window.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import review_ui  # noqa: F401
from labeling.review_db import open_db
from review_fixture import build_review_fixture

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fixture_dirs(tmp_path_factory) -> tuple[Path, Path]:
    return build_review_fixture(tmp_path_factory.getbasetemp() / "review-fixture")


def test_kill_mid_review_loses_nothing(tmp_path, fixture_dirs, qtbot):
    url = str(tmp_path / "review.db")
    with open_db(url) as db:
        db.ingest_run(fixture_dirs[1])
        key = db.queue()[0].key
        v0 = db.visit(key)
        sku_add = json.loads((fixture_dirs[0] / "catalog" / "catalog.json").read_text())["products"][-1]["sku"]
    done = tmp_path / "progress.txt"
    actions = ["line_next", "alt_1", "qty_up", "qty_up", "undo", "add_line", "event_next", "event_next",
               "camera_next", "frame_next"] + ["frame_next"] * 200  # still busy when the kill comes
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"actions": actions, "answers": {"product": sku_add}, "done": str(done),
                                  "interval_ms": 60}))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "WALKOUT_REVIEW_SCRIPT": str(script)}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "review", "--db", url, "--reviewer", "ana",
                             "--visit", key], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            lines = done.read_text().splitlines() if done.exists() else []
            if len(lines) >= 12 or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    logged = [ln.split()[1] for ln in done.read_text().splitlines()]
    assert logged[:6] == actions[:6]

    # reopen: the database holds every decision the app made before it died, with reviewer and time
    with open_db(url) as db:
        cs = db.corrections(key)
        kinds = [(c.kind, c.undone) for c in cs]
        assert kinds == [("change_line", False), ("change_line", False), ("change_line", True),
                         ("add_line", False)], kinds
        assert all(c.reviewer == "ana" and c.created_at is not None for c in cs)
        view = db.visit(key)
        first = view.live_lines[0]
        assert first.sku != v0.live_lines[0].sku and first.qty == v0.live_lines[0].qty + 1
        assert any(ln.origin == "reviewer" and ln.sku == sku_add for ln in view.live_lines)
        audit = [a.action for a in db.audit_log(key)]
        assert audit.count("change_line") == 3 and "undo" in audit and "add_line" in audit

        # and the reopened window shows them (the claim is still ana's, so she carries on)
        from review_ui.main_window import ReviewWindow

        w = ReviewWindow(db, "ana")
        qtbot.addWidget(w)
        w.show()
        assert w.open_visit(key)
        names = [w.receipt.tree.topLevelItem(i).text(0) for i in range(w.receipt.tree.topLevelItemCount())]
        assert any("(added)" in n for n in names)
        w.close()
